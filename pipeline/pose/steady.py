"""Steadier landmarks: BlazePose's per-frame landmarks tremble (a few pixels from frame to
frame on a dancer holding still); offline, with the frames after each one at hand, they can
be filtered without lag.

The filter is a Gaussian-weighted mean over the frames around each one (`SIGMA_S` seconds
wide, out to 3 sigma on each side), taken only over the frames where that dancer was found
(a normalised convolution: a frame without the dancer neither counts nor is made up, and the
first and last frames are averaged over the side they have). Symmetric, so nothing lags.
Only x, y and z are filtered; visibility stays as the model gave it.

The same filter runs twice, and gives the same numbers both times: over a whole track
(`smooth_track`, for the smoothed copy in keypoints.json) and as frames stream through the
writer (`SteadyWindow`, for the overlay: each frame is drawn once the frames after it that
the filter needs have come). Strengths and their measured jitter and lag: docs/figures.md
(`bench/bench_smoothing.py`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

# The strengths a job may ask for: the Gaussian's sigma in seconds (0: the model's landmarks).
SIGMA_S: dict[str, float] = {"none": 0.0, "light": 0.025, "strong": 0.05}
SMOOTHING_LEVELS = tuple(SIGMA_S)


def smoothing_description(level: str) -> dict[str, Any]:
    """What keypoints.json says of its smoothed copy."""
    if SIGMA_S.get(level, 0.0) <= 0:
        return {"level": "none"}
    return {
        "level": level,
        "sigma_s": SIGMA_S[level],
        "method": "Gaussian-weighted mean over the frames within 3 sigma where the dancer was "
        "found, centred (no lag); x, y and z filtered, visibility as found",
    }


def weights(fps: float, level: str) -> np.ndarray:
    """The filter's weights, one per frame from -k to +k (odd length; [1.0] for "none")."""
    if level not in SIGMA_S:
        raise ValueError(f"unknown smoothing {level!r}: one of {', '.join(SIGMA_S)}")
    return gaussian(fps, SIGMA_S[level])


def gaussian(fps: float, sigma_s: float) -> np.ndarray:
    """A Gaussian of `sigma_s` seconds as weights per frame, out to 3 sigma either side."""
    sigma = sigma_s * fps  # in frames
    if sigma <= 0:
        return np.ones(1)
    reach = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    return np.exp(-0.5 * (offsets / sigma) ** 2)


def smooth_track(points: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A dancer's track (frames x landmarks x values, NaN in the frames without them)
    filtered: the first three values of each landmark (x, y, z); the rest as they are."""
    out = np.array(points, dtype=np.float64, copy=True)
    if len(kernel) == 1 or len(out) == 0:
        return out
    found = np.isfinite(out[:, :, :3]).all(axis=(1, 2))
    reach = len(kernel) // 2
    values = np.where(found[:, None, None], out[:, :, :3], 0.0)
    total = np.zeros_like(values)
    weight = np.zeros(len(out))
    for offset, w in zip(range(-reach, reach + 1), kernel, strict=True):
        lo, hi = max(0, -offset), min(len(out), len(out) - offset)
        total[lo:hi] += w * values[lo + offset : hi + offset]
        weight[lo:hi] += w * found[lo + offset : hi + offset]
    out[found, :, :3] = total[found] / weight[found, None, None]
    return out


def smooth_rows(found: list[Any], kernel: np.ndarray, *, several: bool) -> list[Any]:
    """Each frame's landmarks (one dancer: (33, 4) or None; several: [(id, (33, 4))]) with
    every dancer's track filtered, in the same shape."""
    if len(kernel) == 1:
        return list(found)
    if not several:
        return _unstack(smooth_track(_stack(found), kernel))
    smoothed: list[list[tuple[int, np.ndarray]]] = [[] for _ in found]
    ids = sorted({person for people in found for person, _ in people})
    for person in ids:
        track = [dict(people).get(person) for people in found]
        for i, points in enumerate(_unstack(smooth_track(_stack(track), kernel))):
            if points is not None:
                smoothed[i].append((person, points))
    return smoothed


class SteadyWindow:
    """The filter as frames stream through: `push` each frame's item with its landmarks (as
    in `smooth_rows`), or an item that has none (audio) with `landmarks=...` left out; it
    yields (item, smoothed landmarks) in the order pushed, each once the frames the filter
    needs after it are in; `flush` yields the rest at the end. Holds at most k frames."""

    _NOT_A_FRAME = object()

    def __init__(self, kernel: np.ndarray, *, several: bool):
        self.kernel, self.several = kernel, several
        self.reach = len(kernel) // 2
        self._pending: deque[tuple[Any, Any]] = deque()  # (item, landmarks) not yet out
        self._frames: deque[Any] = deque()  # the landmarks of the last frames, oldest first
        self._waiting = 0  # frames in _pending

    def push(self, item: Any, landmarks: Any = _NOT_A_FRAME) -> Iterator[tuple[Any, Any]]:
        self._pending.append((item, landmarks))
        if landmarks is not self._NOT_A_FRAME:
            self._frames.append(landmarks)
            self._waiting += 1
            while len(self._frames) > 2 * self.reach + 1:
                self._frames.popleft()
        yield from self._release(final=False)

    def flush(self) -> Iterator[tuple[Any, Any]]:
        yield from self._release(final=True)

    def _release(self, *, final: bool) -> Iterator[tuple[Any, Any]]:
        while self._pending:
            item, landmarks = self._pending[0]
            if landmarks is self._NOT_A_FRAME:
                self._pending.popleft()
                yield item, None
                continue
            ahead = self._waiting - 1  # frames pushed after this one
            if ahead < self.reach and not final:
                return
            self._pending.popleft()
            self._waiting -= 1
            # this frame's place among the frames kept; the filter looks `reach` either side,
            # so the window is the frames around it, padded with empty ones at the ends
            at = len(self._frames) - 1 - ahead
            empty: Any = [] if self.several else None
            frames = list(self._frames)
            window = [
                frames[k] if 0 <= k < len(frames) else empty
                for k in range(at - self.reach, at + self.reach + 1)
            ]
            yield item, smooth_rows(window, self.kernel, several=self.several)[self.reach]


def _stack(track: list[np.ndarray | None]) -> np.ndarray:
    width = next((points.shape for points in track if points is not None), (33, 4))
    out = np.full((len(track), *width), np.nan)
    for i, points in enumerate(track):
        if points is not None:
            out[i] = points
    return out


def _unstack(track: np.ndarray) -> list[np.ndarray | None]:
    return [
        points.astype(np.float32) if np.isfinite(points[:, :3]).all() else None for points in track
    ]

"""Compare an attempt with a reference performance of the same dance (pure numpy/dtw-python).

Method, and why:

- **Poses.** 13 body points (nose, shoulders, elbows, wrists, hips, knees, ankles) are taken
  in pixels (x*width, y*height, so the aspect ratio is right), centred on the mid-hip and
  divided by the torso length (mid-shoulder to mid-hip): position, size and frame format of
  the dancer no longer matter. A point below the visibility threshold is missing; a frame
  without both hips and both shoulders has no pose. ``mirror=True`` mirrors the *attempt*
  (x flipped, left/right swapped), for a dancer who copied a video as in a mirror; the
  attempt's left/right angle names are then swapped too (interior joint angles do not change
  under a mirror; orientation angles are not corrected).
- **Grid.** Both videos are resampled to a uniform grid of ``rate_hz`` by taking the nearest
  frame (no interpolation: a missing pose stays missing, angles never blend across 0/360,
  variable frame rates are handled). DTW needs the full n x m local cost matrix; the
  measured peak is ``BYTES_PER_CELL`` = 56 bytes per cell (our float64 matrix, then in
  dtw-python its copy, index and window arrays, cumulative cost and directions). The grid is
  therefore capped at ``MAX_CELLS`` = 1.2e7 cells (~0.67 GB peak, ~1.5 s). The default rate
  is 30 Hz: a dancer's limbs move ~0.05 torso lengths between frames at 50 fps, so a coarse
  grid alone costs points (the street footage against a time-warped copy of itself: 84.6 at
  10 Hz, 90.7 at 30 Hz). 30 Hz holds up to ~1.9 minutes per video; beyond that the rate is
  lowered (e.g. two 10-minute videos: ~5.8 Hz) and the rate used is reported. 5 Hz still
  resolves movements at beat level (120 bpm = 2 Hz).
- **Frame distance.** Mean, over the points visible in both frames, of the Euclidean
  distance between the normalised poses, in torso lengths. A pair where either side has no
  pose (or no point in common) costs ``MISSING_COST`` = 0.25 torso lengths, half of
  ``SCALE``: an unknown frame counts as half right, so gaps lower the score a little.
- **Alignment.** ``dtw.dtw`` on our cost matrix (only the band is computed) with a
  Sakoe-Chiba band of ``band_s`` seconds; by default the larger of 10% of the longer video
  and the length difference plus 3 steps. The band is centred on the main diagonal, so it
  must cover |n - m| for the end to be reachable: a smaller ``band_s`` is widened to that.
  Step pattern: Sakoe and Chiba's symmetric one with slope constraint P=1 (``symmetricP1``):
  local tempo between 0.5x and 2x. Plain ``symmetric2`` lets a wrong or missing stretch
  collapse into an L-shaped path (one frame matched to a whole second of the other video),
  which misplaces the worst segments; the price is that durations may differ by at most 2x.
  Ends are anchored: both videos are assumed trimmed to the same start and end of the dance.
- **Similarity.** ``100 * max(0, 1 - d / SCALE)`` with d the mean, over the grid points of
  both videos, of each point's lowest cost among the path cells that hold it (so a frame
  dropped or repeated costs nothing, where the plain mean along the path counts every
  intermediate cell of a tempo change), and ``SCALE`` = 0.5 torso lengths: every 0.05
  torso lengths (~2.5 cm on a 50 cm torso) of mean deviation per point costs 10 points,
  and half a torso length, limbs in unrelated places (mean over all 13 points, hips and
  shoulders included), scores 0.
  Landmark jitter and grid sampling (0.02-0.03 torso lengths) cost ~5 points; a different
  dance from the same standing posture scores 30-45. Segments (``segment_s`` of the
  reference) use the same mapping on their reference points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from dtw import dtw

from worker.pipeline.smoothing import wrap

JOINTS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MIRROR_PAIRS = (
    (11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22), (23, 24), (25, 26),
    (27, 28), (29, 30), (31, 32), (1, 4), (2, 5), (3, 6), (7, 8), (9, 10),
)  # fmt: skip
MAX_CELLS = 12_000_000
DEFAULT_RATE_HZ = 30.0
BYTES_PER_CELL = 56  # peak memory of one DTW cell, measured (documentation)
MISSING_COST = 0.25
SCALE = 0.5
STEP_PATTERN = "symmetricP1"
MIN_POSE_FRAMES = 3
VISIBILITY_THRESHOLD = 0.5
BAND_FRACTION = 0.1
BAND_MARGIN_STEPS = 3


@dataclass(frozen=True)
class Performance:
    times: np.ndarray  # (T,) seconds
    landmarks: np.ndarray  # (T, 33, 4): x, y (0..1), z, visibility; NaN rows where no pose
    width: int
    height: int
    angles: np.ndarray  # (T, K) degrees, NaN where unknown
    angle_names: tuple[str, ...]


def _mirror_index() -> np.ndarray:
    index = np.arange(33)
    for a, b in MIRROR_PAIRS:
        index[a], index[b] = b, a
    return index


def _normalise(
    landmarks: np.ndarray, width: int, height: int, mirror: bool, threshold: float
) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=float)
    xy = lm[:, :, :2] * np.array([width, height], dtype=float)
    xy[~(lm[:, :, 3] >= threshold)] = np.nan  # also where visibility is NaN (no pose)
    if mirror:
        xy = xy[:, _mirror_index()]
        xy[:, :, 0] = -xy[:, :, 0]
    hip = xy[:, [23, 24]].mean(axis=1)
    shoulder = xy[:, [11, 12]].mean(axis=1)
    torso = np.linalg.norm(shoulder - hip, axis=1)
    torso = np.where(torso > 1e-6, torso, np.nan)  # NaN propagates: no pose in that frame
    return (xy[:, list(JOINTS)] - hip[:, None, :]) / torso[:, None, None]


def normalise_poses(
    performance: Performance, *, mirror: bool = False, visibility_threshold: float = 0.5
) -> np.ndarray:
    """(T, 13, 2) poses of ``JOINTS`` in torso lengths around the mid-hip; NaN where missing."""
    return _normalise(
        performance.landmarks, performance.width, performance.height, mirror, visibility_threshold
    )


def _grid_index(times: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid times from the first frame, and the nearest frame of each."""
    steps = int(math.floor((times[-1] - times[0]) * rate_hz + 1e-9)) + 1
    grid = times[0] + np.arange(steps) / rate_hz
    if len(times) == 1:
        return grid, np.zeros(steps, dtype=int)
    right = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    left = right - 1
    nearest = np.where(grid - times[left] <= times[right] - grid, left, right)
    return grid, nearest


def _check(performance: Performance, label: str) -> np.ndarray:
    times = np.asarray(performance.times, dtype=float)
    if times.ndim != 1 or len(times) == 0 or len(performance.landmarks) != len(times):
        raise ValueError(f"{label}: times and landmarks must have the same, non-zero length")
    if np.any(~np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise ValueError(f"{label}: frame times must be finite and non-decreasing")
    if performance.width <= 0 or performance.height <= 0:
        raise ValueError(f"{label}: frame size must be positive")
    return times


def _grid_rate(rate_hz: float, durations: tuple[float, float]) -> float:
    """``rate_hz``, lowered until the cost matrix fits ``MAX_CELLS``."""
    rate = rate_hz
    while (durations[0] * rate + 1) * (durations[1] * rate + 1) > MAX_CELLS:
        cells = (durations[0] * rate + 1) * (durations[1] * rate + 1)
        rate = math.floor(rate * math.sqrt(MAX_CELLS / cells) * 1000) / 1000 - 0.001
    if rate <= 0:
        raise ValueError("performances too long to compare")
    return rate


def _cost_matrix(ref: np.ndarray, att: np.ndarray, band: int) -> np.ndarray:
    """Local cost (n, m) inside the band, one diagonal at a time; outside it is never used."""
    n, m = len(ref), len(att)
    cost = np.full((n, m), MISSING_COST)
    for k in range(-band, band + 1):  # cells (i, i + k)
        i = np.arange(max(0, -k), min(n, m - k))
        if len(i) == 0:
            continue
        dist = np.linalg.norm(ref[i] - att[i + k], axis=2)  # (L, J), NaN where either missing
        known = ~np.isnan(dist)
        count = known.sum(axis=1)
        total = np.where(known, dist, 0.0).sum(axis=1)
        cost[i, i + k] = np.where(count > 0, total / np.maximum(count, 1), MISSING_COST)
    return cost


def _best_along_path(index: np.ndarray, cost: np.ndarray, size: int) -> np.ndarray:
    """Per grid point of one video, the lowest cost among the path cells that hold it."""
    best = np.full(size, np.inf)
    np.minimum.at(best, index, cost)
    return best


def _similarity(distance: float) -> float:
    return round(100.0 * max(0.0, 1.0 - distance / SCALE), 1)


def _angle_differences(
    reference: Performance, attempt: Performance, mirror: bool, ri: np.ndarray, ai: np.ndarray
) -> dict[str, dict[str, Any]]:
    def swap(name: str) -> str:
        sides = {"left": "right", "right": "left"}
        return re.sub("left|right", lambda s: sides[s.group()], name) if mirror else name

    att_names = {name: k for k, name in enumerate(attempt.angle_names)}
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(reference.angle_names):
        if swap(name) not in att_names:
            continue
        a = np.asarray(reference.angles, dtype=float)[ri, k]
        b = np.asarray(attempt.angles, dtype=float)[ai, att_names[swap(name)]]
        diff = np.abs(wrap(a - b, 360.0))  # 350 vs 10 is 20
        diff = diff[np.isfinite(diff)]
        out[name] = {
            "mean_abs_difference_deg": round(float(diff.mean()), 1) if len(diff) else None,
            "max_abs_difference_deg": round(float(diff.max()), 1) if len(diff) else None,
            "frames": len(diff),
        }
    return out


def _segments(
    ref_t: np.ndarray, att_t: np.ndarray, cost: np.ndarray, start: float, end: float, seg: float
) -> list[dict[str, Any]]:
    count = max(1, math.ceil((end - start) / seg - 1e-9))
    which = np.minimum(((ref_t - start) / seg + 1e-9).astype(int), count - 1)
    out = []
    for k in range(count):
        sel = which == k
        if not sel.any():
            continue
        out.append(
            {
                "reference_start_s": round(start + k * seg, 3),
                "reference_end_s": round(min(start + (k + 1) * seg, end), 3),
                "attempt_start_s": round(float(att_t[sel].min()), 3),
                "attempt_end_s": round(float(att_t[sel].max()), 3),
                "similarity": _similarity(float(cost[sel].mean())),
            }
        )
    return out


def compare_performances(
    reference: Performance,
    attempt: Performance,
    *,
    mirror: bool = False,
    rate_hz: float = DEFAULT_RATE_HZ,
    band_s: float | None = None,
    segment_s: float = 1.0,
    worst: int = 5,
) -> dict[str, Any]:
    """The full comparison report (JSON-serialisable); see the module docstring."""
    if rate_hz <= 0 or segment_s <= 0:
        raise ValueError("rate_hz and segment_s must be positive")
    ref_times, att_times = _check(reference, "reference"), _check(attempt, "attempt")
    ref_dur, att_dur = ref_times[-1] - ref_times[0], att_times[-1] - att_times[0]
    rate = _grid_rate(rate_hz, (ref_dur, att_dur))
    ref_grid, ref_idx = _grid_index(ref_times, rate)
    att_grid, att_idx = _grid_index(att_times, rate)
    ref = _normalise(
        reference.landmarks[ref_idx], reference.width, reference.height, False, VISIBILITY_THRESHOLD
    )
    att = _normalise(
        attempt.landmarks[att_idx], attempt.width, attempt.height, mirror, VISIBILITY_THRESHOLD
    )
    for label, poses in (("reference", ref), ("attempt", att)):
        if int((~np.isnan(poses).all(axis=(1, 2))).sum()) < MIN_POSE_FRAMES:
            raise ValueError(
                f"{label} has fewer than {MIN_POSE_FRAMES} frames with a pose "
                f"on the {rate:g} Hz grid"
            )
    n, m = len(ref), len(att)
    if max(n, m) - 1 > 2 * (min(n, m) - 1):
        raise ValueError("reference and attempt durations differ by more than 2x: cannot align")
    default = max(math.ceil(BAND_FRACTION * max(n, m)), abs(n - m) + BAND_MARGIN_STEPS)
    band = default if band_s is None else max(round(band_s * rate), abs(n - m) + 1)
    local = _cost_matrix(ref, att, band)
    alignment = dtw(
        local,
        step_pattern=STEP_PATTERN,
        window_type="sakoechiba",
        window_args={"window_size": band},
    )
    pi, pj = np.asarray(alignment.index1), np.asarray(alignment.index2)
    path_cost = local[pi, pj]
    ref_t, att_t = ref_grid[pi], att_grid[pj]
    # each grid point's best match along the path: a dropped or repeated frame costs nothing
    ref_best, att_best = _best_along_path(pi, path_cost, n), _best_along_path(pj, path_cost, m)
    segments = _segments(
        ref_t, att_t, ref_best[pi], float(ref_grid[0]), float(ref_times[-1]), segment_s
    )
    lag = (att_t - att_grid[0]) - (ref_t - ref_grid[0])
    return {
        "similarity": _similarity(0.5 * (float(ref_best.mean()) + float(att_best.mean()))),
        "rate_hz": round(rate, 3),
        "band_s": round(band / rate, 3),
        "mirror": bool(mirror),
        "reference_duration_s": round(float(ref_dur), 3),
        "attempt_duration_s": round(float(att_dur), 3),
        "path": {
            "reference_time_s": [round(float(t), 3) for t in ref_t],
            "attempt_time_s": [round(float(t), 3) for t in att_t],
        },
        "segments": segments,
        "worst_segments": sorted(segments, key=lambda s: s["similarity"])[: max(0, worst)],
        "joint_angle_differences": _angle_differences(
            reference, attempt, mirror, ref_idx[pi], att_idx[pj]
        ),
        "time_warp": {
            "mean_rate": round(
                float(att_t[-1] - att_t[0]) / max(float(ref_t[-1] - ref_t[0]), 1e-9), 3
            ),
            "max_abs_offset_s": round(float(np.abs(lag).max()), 3),
        },
    }


def comparison_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the alignment path: the short form for a database row."""
    return {key: value for key, value in report.items() if key != "path"}

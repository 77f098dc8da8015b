"""A performance as the comparison reads it: its landmarks on a uniform time grid, turned into
bone vectors that do not depend on where the dancer stands, how big they are in the picture
or how the camera framed them.

- **Grid.** Each video is sampled at `rate_hz` (30 Hz) from its first frame by taking the
  nearest frame: a missing pose stays missing, variable frame rates are handled.
- **Points.** A landmark counts when its visibility is at least 0.5 and it lies inside the
  picture (BlazePose guesses the points of a body cut by the frame's edge, with a
  visibility that is often high). A frame has a pose when both shoulders and both hips count.
- **Bones.** Twelve 2D vectors in pixels (x times width, y times height, so the aspect
  ratio is right): both upper arms, forearms, thighs and shins, the shoulder line, the hip
  line, the trunk (mid-hip to mid-shoulder) and the head (mid-shoulder to nose), each divided
  by the dancer's *body scale*: the median trunk length over the second around that frame
  (a trunk that bends toward the camera for a moment does not blow the limbs up). Unlike
  positions relative to the hips, a bone's vector changes only when that bone moves, so a
  difference stays where it is (a wrong forearm is not also a wrong hand).
- **Mirror.** A mirrored attempt (a class facing the teacher) has x negated and left and
  right exchanged before the bones are taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

VISIBILITY_THRESHOLD = 0.5
SCALE_WINDOW_S = 1.0  # the body scale: median trunk length over this window
MIN_BONES = 4  # a frame pair is compared on at least this many bones seen on both sides

MIRROR_PAIRS = (
    (11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22), (23, 24), (25, 26),
    (27, 28), (29, 30), (31, 32), (1, 4), (2, 5), (3, 6), (7, 8), (9, 10),
)  # fmt: skip
MID_HIP, MID_SHOULDER = 33, 34  # extra points appended to the 33 landmarks
BONES: tuple[tuple[str, int, int], ...] = (
    ("left_upper_arm", 11, 13),
    ("left_forearm", 13, 15),
    ("right_upper_arm", 12, 14),
    ("right_forearm", 14, 16),
    ("left_thigh", 23, 25),
    ("left_shin", 25, 27),
    ("right_thigh", 24, 26),
    ("right_shin", 26, 28),
    ("shoulder_line", 12, 11),
    ("hip_line", 24, 23),
    ("trunk", MID_HIP, MID_SHOULDER),
    ("head", MID_SHOULDER, 0),
)
BONE_NAMES = tuple(name for name, _, _ in BONES)
BODY_PARTS: dict[str, tuple[int, ...]] = {  # bone indices of each part (amplitude, feedback)
    "arms": (0, 1, 2, 3),
    "legs": (4, 5, 6, 7),
    "trunk and head": (8, 9, 10, 11),
}


@dataclass(frozen=True)
class Performance:
    """One dancer's performance: per frame its time (the video's own clock) and 33 landmarks
    (x, y normalised to the upright frame, z, visibility; NaN rows where no pose), the frame's
    size, and the smoothed joint angles (degrees, NaN where unknown) for the feedback."""

    times: np.ndarray  # (T,) seconds
    landmarks: np.ndarray  # (T, 33, 4)
    width: int
    height: int
    angles: np.ndarray  # (T, K) degrees
    angle_names: tuple[str, ...]


@dataclass(frozen=True)
class Sampled:
    """A performance on the grid: `times[k]` = first frame's time + k / rate."""

    times: np.ndarray  # (N,) seconds, the video's clock
    frame_index: np.ndarray  # (N,) the nearest frame of the performance
    bones: np.ndarray  # (N, 12, 2) float64, body scales; NaN where a bone is not seen
    has_pose: np.ndarray  # (N,) bool
    rate_hz: float

    def __len__(self) -> int:
        return len(self.times)


def check(performance: Performance, label: str) -> np.ndarray:
    """The frame times, after checking the performance is well formed (ValueError if not)."""
    times = np.asarray(performance.times, dtype=float)
    if times.ndim != 1 or len(times) == 0 or len(performance.landmarks) != len(times):
        raise ValueError(f"{label}: times and landmarks must have the same, non-zero length")
    if np.any(~np.isfinite(times)) or np.any(np.diff(times) < 0):
        raise ValueError(f"{label}: frame times must be finite and non-decreasing")
    if performance.width <= 0 or performance.height <= 0:
        raise ValueError(f"{label}: frame size must be positive")
    return times


def grid_index(times: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid times from the first frame to the last, and the nearest frame of each."""
    steps = int(math.floor((times[-1] - times[0]) * rate_hz + 1e-9)) + 1
    grid = times[0] + np.arange(steps) / rate_hz
    if len(times) == 1:
        return grid, np.zeros(steps, dtype=int)
    right = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    left = right - 1
    nearest = np.where(grid - times[left] <= times[right] - grid, left, right)
    return grid, nearest


def mirror_index() -> np.ndarray:
    index = np.arange(33)
    for a, b in MIRROR_PAIRS:
        index[a], index[b] = b, a
    return index


def points(landmarks: np.ndarray, width: int, height: int, *, mirror: bool) -> np.ndarray:
    """(T, 35, 2) pixels of the 33 landmarks, mid-hip and mid-shoulder; NaN where not seen."""
    lm = np.asarray(landmarks, dtype=float)
    x, y, visibility = lm[:, :, 0], lm[:, :, 1], lm[:, :, 3]
    seen = (visibility >= VISIBILITY_THRESHOLD) & (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)
    xy = lm[:, :, :2] * np.array([width, height], dtype=float)
    xy[~seen] = np.nan  # NaN comparisons are False: a frame without pose is not seen either
    if mirror:
        xy = xy[:, mirror_index()]
        xy[:, :, 0] = -xy[:, :, 0]
    hip = xy[:, [23, 24]].mean(axis=1)
    shoulder = xy[:, [11, 12]].mean(axis=1)
    return np.concatenate([xy, hip[:, None], shoulder[:, None]], axis=1)


def body_scale(pts: np.ndarray, rate_hz: float) -> np.ndarray:
    """Per frame, the median trunk length (px) over `SCALE_WINDOW_S` around it, among the
    frames with a pose; NaN where the frame has no pose."""
    trunk = np.linalg.norm(pts[:, MID_SHOULDER] - pts[:, MID_HIP], axis=1)
    known = np.isfinite(trunk) & (trunk > 1e-6)
    if not known.any():
        return np.full(len(trunk), np.nan)
    index = np.arange(len(trunk))
    # frames without a pose take the nearest known length, so they do not pull the median
    filled = np.interp(index, index[known], trunk[known])
    size = max(1, int(round(SCALE_WINDOW_S * rate_hz)) | 1)
    return np.where(known, median_filter(filled, size=size, mode="nearest"), np.nan)


def bone_vectors(pts: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T, 12, 2) bone vectors in body scales."""
    start = pts[:, [a for _, a, _ in BONES]]
    end = pts[:, [b for _, _, b in BONES]]
    return (end - start) / scale[:, None, None]


def sample(performance: Performance, rate_hz: float, *, mirror: bool = False) -> Sampled:
    """The performance on its grid, as bone vectors."""
    times = check(performance, "performance")
    grid, nearest = grid_index(times, rate_hz)
    pts = points(
        performance.landmarks[nearest], performance.width, performance.height, mirror=mirror
    )
    scale = body_scale(pts, rate_hz)
    bones = bone_vectors(pts, scale)
    has_pose = np.isfinite(scale)
    bones[~has_pose] = np.nan
    return Sampled(grid, nearest, bones, has_pose, rate_hz)

"""Each dancer's world landmarks over the video, ready for the exports.

BlazePose estimates, besides the image landmarks, each frame's 33 landmarks in metres with
the origin between the hips (`pose_world_landmarks`), in the camera's axes: x to the image's
right, y down, z away from the camera. Here they are turned to the exports' axes, **x to the
image's right, y up, z toward the camera** (right-handed; a dancer facing the camera faces
+z, their left hand on +x), and smoothed with the angles' zero-phase filter
(`pipeline.smoothing`: gaps of up to 10 frames filled, longer ones left empty).

The world landmarks always sit on the hips, so they hold no travel across the floor. `root`
puts it back, approximately: the image position of the point between the hips, in metres
(the image's pixels scaled by the dancer's own world torso over their image torso, median
over the clip), its height above the floor from the feet (the hips' median height over
the lowest foot landmark), and no depth (one camera cannot tell it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.smoothing import DEFAULT_CUTOFF_HZ, DEFAULT_MAX_GAP_FRAMES, lowpass

AXES = "x: the image's right, y: up, z: toward the camera (metres, right-handed)"
_TO_EXPORT_AXES = np.array([1.0, -1.0, -1.0])  # BlazePose's y down, z away -> y up, z toward
_HIPS, _SHOULDERS = [23, 24], [11, 12]
_FEET = [27, 28, 29, 30, 31, 32]  # ankles, heels, toes


def to_export_axes(world: np.ndarray) -> np.ndarray:
    """(33, 3) from BlazePose's (33, 4) world landmarks (x, y, z, visibility)."""
    return np.asarray(world, dtype=np.float64)[:, :3] * _TO_EXPORT_AXES


@dataclass(frozen=True)
class WorldTrack:
    """One dancer over every frame of the video (T frames), NaN where unknown."""

    person: int  # 1 for the single-dancer solution, else the dancer's id
    times: np.ndarray  # (T,) seconds
    points: np.ndarray  # (T, 33, 3) metres, hip-centred, export axes, smoothed
    visibility: np.ndarray  # (T, 33) BlazePose's visibility of each landmark
    root: np.ndarray  # (T, 3) metres: the point between the hips on the floor plane

    @property
    def known(self) -> np.ndarray:
        """(T,) frames where the dancer's landmarks are known (seen, or a short gap filled)."""
        return np.isfinite(self.points).all(axis=(1, 2))


def world_track(
    person: int,
    times: Sequence[float],
    image: Sequence[np.ndarray | None],
    world: Sequence[np.ndarray | None],
    *,
    width: int,
    height: int,
    fps: float,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
    max_gap_frames: int = DEFAULT_MAX_GAP_FRAMES,
) -> WorldTrack:
    """`image`: each frame's (33, 4) image landmarks (x, y normalised, z, visibility) or None;
    `world`: its (33, 3) world landmarks in the exports' axes (`to_export_axes`) or None."""
    count = len(times)
    raw = np.full((count, 33, 3), np.nan)
    visibility = np.full((count, 33), np.nan)
    hips_px = np.full((count, 2), np.nan)
    metres_per_px = np.full(count, np.nan)
    size = np.array([width, height], dtype=np.float64)
    for i, (points, found) in enumerate(zip(world, image, strict=True)):
        if points is None or found is None:
            continue
        raw[i] = points
        visibility[i] = np.asarray(found, dtype=np.float64)[:, 3]
        pixels = np.asarray(found, dtype=np.float64)[:, :2] * size
        hips_px[i] = pixels[_HIPS].mean(axis=0)
        torso_px = np.linalg.norm(pixels[_SHOULDERS].mean(axis=0) - hips_px[i])
        # the world torso as the camera sees it (x and y only): the same foreshortening
        torso_m = np.linalg.norm((raw[i, _SHOULDERS] - raw[i, _HIPS]).mean(axis=0)[:2])
        if torso_px > 1:
            metres_per_px[i] = torso_m / torso_px

    def smooth(values: np.ndarray) -> np.ndarray:
        return lowpass(values, fps, cutoff_hz=cutoff_hz, max_gap_frames=max_gap_frames)

    points = smooth(raw.reshape(count, -1)).reshape(count, 33, 3)
    root = np.full((count, 3), np.nan)
    seen = np.isfinite(metres_per_px)
    if seen.any():
        scale = float(np.median(metres_per_px[seen]))
        first = hips_px[np.flatnonzero(seen)[0]]
        floor = raw[seen][:, _FEET, 1].min(axis=1)  # the lowest foot landmark, hip-relative
        hip_height = float(-np.median(floor))
        root[seen, 0] = (hips_px[seen, 0] - first[0]) * scale
        root[seen, 1] = hip_height - (hips_px[seen, 1] - first[1]) * scale
        root[seen, 2] = 0.0
        root = smooth(root)
    return WorldTrack(person, np.asarray(times, dtype=np.float64), points, visibility, root)

"""Several people per frame, with stable ids: MediaPipe's Tasks `PoseLandmarker` (the bundle
of `worker.pipeline.pose_bundle`) on overlapping square tiles of the frame, duplicates merged,
identities kept by `worker.pipeline.tracking`.

Why tiles: the detector sees the whole frame letterboxed to its 224-px square input, so in a
wide frame small people are missed (two dancers side by side in 640x240: found together in 0
of 90 frames on the whole frame, in 90 of 90 on four 240-px tiles). Each tile has its own
landmarker in VIDEO mode, which tracks the people of its tile between frames. The cost is one
inference per tile and person, so a square frame uses one tile (the whole frame).
"""

from __future__ import annotations

import math
import os

import mediapipe as mp
import numpy as np

from worker.pipeline.pose_bundle import bundle_path
from worker.pipeline.tracking import PeopleTracker

_OVERLAP = 0.25  # of a tile's side, at least, between neighbouring tiles
_TORSO = (11, 12, 23, 24)


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square tiles (x, y, side) of side min(width, height) along the longer side, spread
    evenly with at least `_OVERLAP` of a side shared by neighbours."""
    side, span = min(width, height), max(width, height)
    count = 1 if span == side else math.ceil((span - side) / (side * (1 - _OVERLAP))) + 1
    starts = np.linspace(0, span - side, count).round().astype(int).tolist()
    return [(s, 0, side) if width >= height else (0, s, side) for s in starts]


class MultiPoseEstimator:
    """`estimate(rgb, time_ms)` -> [(person id, (33, 4) array [x, y, z, visibility])], x and y
    normalised to the whole frame, at most `max_people`, ordered by id."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        max_people: int,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        bundle: str | os.PathLike | None = None,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.width, self.height, self.max_people = width, height, max_people
        self.tiles = tiles(width, height)
        model = str(bundle or bundle_path())
        self.landmarkers = [
            vision.PoseLandmarker.create_from_options(
                vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=model),
                    running_mode=vision.RunningMode.VIDEO,
                    num_poses=max_people,
                    min_pose_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence,
                )
            )
            for _ in self.tiles
        ]
        self.tracker = PeopleTracker(width, height)

    def estimate(self, rgb: np.ndarray, time_ms: int) -> list[tuple[int, np.ndarray]]:
        found: list[tuple[np.ndarray, float]] = []  # pose, off-centre in its tile (0..~0.7)
        for (x0, y0, side), landmarker in zip(self.tiles, self.landmarkers, strict=True):
            crop = np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=crop)
            for pose in landmarker.detect_for_video(image, time_ms).pose_landmarks:
                points = np.array([(p.x, p.y, p.z, p.visibility) for p in pose], np.float32)
                off_centre = float(np.linalg.norm(points[list(_TORSO), :2].mean(axis=0) - 0.5))
                points[:, 0] = (points[:, 0] * side + x0) / self.width
                points[:, 1] = (points[:, 1] * side + y0) / self.height
                points[:, 2] = points[:, 2] * side / self.width
                found.append((points, off_centre))
        people = self._distinct(found)[: self.max_people]
        ids = self.tracker.update(people)
        return sorted(zip(ids, people, strict=True), key=lambda pair: pair[0])

    def _distinct(self, poses: list[tuple[np.ndarray, float]]) -> list[np.ndarray]:
        """One pose per person: a pose whose torso centre lies within half a torso length of
        a better one is the same person seen from another tile. Better: seen nearer the
        centre of its tile (whole, and the same tile from frame to frame while the person
        stays there), then more visible."""
        scale = np.array([self.width, self.height], dtype=np.float64)
        ranked = [
            pose
            for pose, _ in sorted(
                poses, key=lambda item: (round(item[1], 1), -float(item[0][:, 3].mean()))
            )
        ]
        kept: list[tuple[np.ndarray, np.ndarray, float]] = []
        for pose in ranked:
            torso = pose[list(_TORSO), :2].astype(np.float64) * scale
            centre = torso.mean(axis=0)
            length = float(np.linalg.norm(torso[:2].mean(axis=0) - torso[2:].mean(axis=0)))
            if all(
                np.linalg.norm(centre - other) > 0.5 * max(length, other_length, 1.0)
                for _, other, other_length in kept
            ):
                kept.append((pose, centre, length))
        return [pose for pose, _, _ in kept]

    def close(self) -> None:
        for landmarker in self.landmarkers:
            landmarker.close()

    def __enter__(self) -> MultiPoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

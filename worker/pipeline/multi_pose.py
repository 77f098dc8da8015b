"""Several people per frame, with stable ids: MediaPipe's Tasks `PoseLandmarker` (the bundle
of `worker.pipeline.pose_bundle`), identities kept by `worker.pipeline.tracking`.

Two ways of looking, combined each frame:

- a scan: the landmarker on overlapping square tiles of the frame, which finds new people.
  The detector sees its input letterboxed to a 224-px square, so on the whole of a wide frame
  small people are missed (two dancers side by side in 640x240: both found in 0 of 90
  frames); on 240-px tiles, in 90 of 90. A scan runs every `scan_every` frames, and on the
  frame after someone was lost, unless `max_people` are followed already.
- a region of interest per person found: a square crop around the person's last pose, given
  to that person's own landmarker in VIDEO mode, which follows the pose without running the
  detector. This costs one landmark model a person a frame (21 ms here) where a scan costs a
  detector (12 ms) a tile plus a landmark model per person and tile.

The poses of both are merged (the same person seen twice: the better view is kept) and the
tracker gives them their ids.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import mediapipe as mp
import numpy as np

from worker.pipeline.pose_bundle import bundle_path
from worker.pipeline.tracking import PeopleTracker

_OVERLAP = 0.25  # of a tile's side, at least, between neighbouring tiles
_TORSO = (11, 12, 23, 24)
_ROI_INPUT = 256  # crops are resized to this square: the landmarker sees one image size
_ROI_MARGIN = 1.6  # crop side, in units of the pose's larger extent
_ROI_MIN_SIDE = 64
_PART = 0.6  # a pose with this share of its box inside a larger pose's box is part of it


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square tiles (x, y, side) of side min(width, height) along the longer side, spread
    evenly with at least `_OVERLAP` of a side shared by neighbours."""
    side, span = min(width, height), max(width, height)
    count = 1 if span == side else math.ceil((span - side) / (side * (1 - _OVERLAP))) + 1
    starts = np.linspace(0, span - side, count).round().astype(int).tolist()
    return [(s, 0, side) if width >= height else (0, s, side) for s in starts]


@dataclass
class _Region:
    """A person's region of interest: a square (x, y, side) in pixels and its landmarker."""

    landmarker: object
    x: int = 0
    y: int = 0
    side: int = 0

    def follow(self, pose: np.ndarray, width: int, height: int) -> None:
        """Centre the square on the pose; its side changes only when the pose's size has
        changed by more than a fifth (a steady crop keeps the landmarker's tracking steady)."""
        points = pose[:, :2].astype(np.float64) * (width, height)
        low, high = points.min(axis=0), points.max(axis=0)
        side = max(_ROI_MIN_SIDE, int(round(float((high - low).max()) * _ROI_MARGIN)))
        if not self.side or abs(side - self.side) > 0.2 * self.side:
            self.side = side
        centre = (low + high) / 2
        self.x = int(round(centre[0] - self.side / 2))
        self.y = int(round(centre[1] - self.side / 2))


class MultiPoseEstimator:
    """`estimate(rgb, time_ms)` -> [(person id, (33, 4) array [x, y, z, visibility])], x and y
    normalised to the whole frame, at most `max_people`, ordered by id. `time_ms` must grow
    from call to call."""

    def __init__(
        self,
        width: int,
        height: int,
        *,
        max_people: int,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        scan_every: int = 10,
        bundle: str | os.PathLike | None = None,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.width, self.height, self.max_people = width, height, max_people
        self.scan_every = scan_every
        self.tiles = tiles(width, height)
        model = str(bundle or bundle_path())

        def landmarker(mode, num_poses: int):
            return vision.PoseLandmarker.create_from_options(
                vision.PoseLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=model),
                    running_mode=mode,
                    num_poses=num_poses,
                    min_pose_detection_confidence=min_detection_confidence,
                    min_tracking_confidence=min_tracking_confidence,
                )
            )

        self._new_landmarker = lambda: landmarker(vision.RunningMode.VIDEO, 1)
        self.scanner = landmarker(vision.RunningMode.IMAGE, max_people)
        self.regions: dict[int, _Region] = {}
        self._spare: list = []  # landmarkers of regions given up, for reuse
        self.tracker = PeopleTracker(width, height)
        self._frames = 0
        self._lost_someone = False
        self.scans = 0

    def estimate(self, rgb: np.ndarray, time_ms: int) -> list[tuple[int, np.ndarray]]:
        found: list[tuple[np.ndarray, float]] = []  # pose, off-centre in its view (0..~0.7)
        for region in self.regions.values():
            found += self._look(region.landmarker, rgb, region.x, region.y, region.side, time_ms)
        room = len(self.regions) < self.max_people  # else nobody new could be taken
        if room and (self._frames % self.scan_every == 0 or self._lost_someone):
            self.scans += 1
            for x0, y0, side in self.tiles:
                found += self._look(self.scanner, rgb, x0, y0, side, None)
        self._frames += 1
        people = self._distinct(found)[: self.max_people]
        ids = self.tracker.update(people)
        result = sorted(zip(ids, people, strict=True), key=lambda pair: pair[0])
        self._lost_someone = len(result) < len(self.regions)
        self._follow(result)
        return result

    def _look(
        self, landmarker, rgb: np.ndarray, x0: int, y0: int, side: int, time_ms: int | None
    ) -> list[tuple[np.ndarray, float]]:
        """The poses the landmarker finds in the square (x0, y0, side), in whole-frame
        coordinates, each with how far off the square's centre its torso is."""
        crop = _square(rgb, x0, y0, side)
        if side != _ROI_INPUT and time_ms is not None:
            crop = cv2.resize(crop, (_ROI_INPUT, _ROI_INPUT), interpolation=cv2.INTER_AREA)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
        result = (
            landmarker.detect(image)
            if time_ms is None
            else landmarker.detect_for_video(image, time_ms)
        )
        poses = []
        for pose in result.pose_landmarks:
            points = np.array([(p.x, p.y, p.z, p.visibility) for p in pose], np.float32)
            off_centre = float(np.linalg.norm(points[list(_TORSO), :2].mean(axis=0) - 0.5))
            points[:, 0] = (points[:, 0] * side + x0) / self.width
            points[:, 1] = (points[:, 1] * side + y0) / self.height
            points[:, 2] = points[:, 2] * side / self.width
            poses.append((points, off_centre))
        return poses

    def _follow(self, people: list[tuple[int, np.ndarray]]) -> None:
        """Regions for the next frame: one per person found now; the others are given up."""
        present = {person_id for person_id, _ in people}
        for person_id in [i for i in self.regions if i not in present]:
            self._spare.append(self.regions.pop(person_id).landmarker)
        for person_id, pose in people:
            region = self.regions.get(person_id)
            if region is None:
                landmarker = self._spare.pop() if self._spare else self._new_landmarker()
                region = self.regions[person_id] = _Region(landmarker)
            region.follow(pose, self.width, self.height)

    def _distinct(self, poses: list[tuple[np.ndarray, float]]) -> list[np.ndarray]:
        """One pose per person. Poses whose torso centre is outside the frame are dropped.
        A pose whose torso centre lies within half a torso length of a better one is the same
        person seen twice (better: nearer the centre of its view, as a region of interest is
        centred on its person, then more visible). A pose whose box (of its visible points)
        lies mostly inside a larger pose's box is a part of that person taken for another."""
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
            if not (0 <= centre[0] <= self.width and 0 <= centre[1] <= self.height):
                continue
            length = float(np.linalg.norm(torso[:2].mean(axis=0) - torso[2:].mean(axis=0)))
            if all(
                np.linalg.norm(centre - other) > 0.5 * max(length, other_length, 1.0)
                for _, other, other_length in kept
            ):
                kept.append((pose, centre, length))
        boxes = [_box(pose) for pose, _, _ in kept]
        return [
            pose
            for i, (pose, _, _) in enumerate(kept)
            if not any(
                _area(boxes[j]) > _area(boxes[i]) and _inside(boxes[i], boxes[j]) > _PART
                for j in range(len(kept))
            )
        ]

    def close(self) -> None:
        regions = [region.landmarker for region in self.regions.values()]
        for landmarker in [self.scanner, *self._spare, *regions]:
            landmarker.close()
        self.regions.clear()
        self._spare.clear()

    def __enter__(self) -> MultiPoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _square(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square (x0, y0, side) of the frame; where it reaches past the frame's edges, the
    frame's border pixels are repeated."""
    height, width = rgb.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + side <= width and y0 + side <= height:
        return rgb[y0 : y0 + side, x0 : x0 + side]
    xs = np.clip(np.arange(x0, x0 + side), 0, width - 1)
    ys = np.clip(np.arange(y0, y0 + side), 0, height - 1)
    return rgb[np.ix_(ys, xs)]


def _box(pose: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the visible points (all points when none is visible)."""
    visible = pose[:, 3] >= 0.5
    points = pose[visible if visible.any() else slice(None), :2].astype(np.float64)
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _inside(box: np.ndarray, other: np.ndarray) -> float:
    """The share of `box`'s area that lies inside `other`."""
    overlap = np.concatenate([np.maximum(box[:2], other[:2]), np.minimum(box[2:], other[2:])])
    return _area(overlap) / max(_area(box), 1e-9)

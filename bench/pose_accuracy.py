"""Pose accuracy against people's labels, the math of `bench/bench_pose_accuracy.py`: COCO's
keypoint labels read, the crop a person is shown in, BlazePose's 33 landmarks mapped to COCO's
17 and put back in the photo's pixels, and the scores. Numpy only: the tests check it without
MediaPipe.

- OKS (object keypoint similarity, COCO's own): for each labelled keypoint (v > 0) of a
  person, exp(-d² / (2 s² k²)), with d the distance from the prediction to the label in
  pixels, s² the annotation's `area` and k = 2σ the keypoint's constant (`COCO_SIGMAS`); the
  mean over the labelled keypoints. A person not found scores 0.
- PCK@0.2: a labelled keypoint is correct when within 0.2 x the person's torso (`torso`): the
  distance between the labelled left shoulder and right hip or, when either is unlabelled, the
  right shoulder and left hip. Pooled over the labelled keypoints of every person with a
  torso (a person not found: all theirs wrong); people with neither pair labelled are left
  out of PCK, and counted.
- errors: each keypoint's distance to its label over the person's torso, averaged over the
  people found who have a torso and that keypoint labelled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COCO_PEOPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_people"
LABELS = "person_keypoints.json"
MIN_KEYPOINTS = 5  # people with fewer labelled keypoints are left out, as COCO's own eval does

COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# COCO's per-keypoint constants (cocoeval's `kpt_oks_sigmas`), in the order above
COCO_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062]
    + [0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)
# the BlazePose landmark (`pipeline.pose.blazepose.LANDMARK_NAMES`) of each COCO keypoint
BLAZEPOSE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# (shoulder, hip) pairs across the torso, the first labelled one is the person's torso
TORSO_PAIRS = ((5, 12), (6, 11))  # left shoulder - right hip, right shoulder - left hip
PCK_ALPHA = 0.2


@dataclass(frozen=True)
class Person:
    """One COCO person annotation: `keypoints` (17, 3) as x, y in the photo's pixels and v
    (0 unlabelled, 1 labelled but hidden, 2 labelled and visible)."""

    id: int
    file_name: str
    image_width: int
    image_height: int
    bbox: tuple[float, float, float, float]  # x, y, width, height
    area: float
    keypoints: np.ndarray


def load_labels(path: Path) -> tuple[list[Person], dict[str, list[tuple[float, ...]]]]:
    """The people with `MIN_KEYPOINTS` or more labelled keypoints (not crowds), and every
    photo's person boxes, all annotations included (where nobody may be), by file name."""
    data = json.loads(path.read_text())
    images = {image["id"]: image for image in data["images"]}
    boxes: dict[str, list[tuple[float, ...]]] = {
        image["file_name"]: [] for image in images.values()
    }
    people = []
    for item in data["annotations"]:
        image = images[item["image_id"]]
        boxes[image["file_name"]].append(tuple(item["bbox"]))
        if item.get("iscrowd") or item["num_keypoints"] < MIN_KEYPOINTS:
            continue
        people.append(
            Person(
                id=item["id"],
                file_name=image["file_name"],
                image_width=image["width"],
                image_height=image["height"],
                bbox=tuple(item["bbox"]),
                area=float(item["area"]),
                keypoints=np.array(item["keypoints"], dtype=np.float64).reshape(17, 3),
            )
        )
    return people, boxes


@dataclass(frozen=True)
class Crop:
    """A region of a photo, `left`..`right` x `top`..`bottom` in its pixels, scaled to
    `scaled_width` x `scaled_height` and padded at the right and bottom to the frame,
    `width` x `height` (even sides, as H.264's 4:2:0 wants)."""

    left: int
    top: int
    right: int
    bottom: int
    scaled_width: int
    scaled_height: int
    width: int
    height: int

    def to_image(self, normalised: np.ndarray) -> np.ndarray:
        """Points normalised to the frame (the pipeline's x, y in 0..1) in the photo's
        pixels."""
        points = np.asarray(normalised, dtype=np.float64)[:, :2]
        x = self.left + points[:, 0] * self.width * (self.right - self.left) / self.scaled_width
        y = self.top + points[:, 1] * self.height * (self.bottom - self.top) / self.scaled_height
        return np.stack([x, y], axis=1)

    def to_frame(self, pixels: np.ndarray) -> np.ndarray:
        """The photo's pixels normalised to the frame: `to_image` undone."""
        points = np.asarray(pixels, dtype=np.float64)[:, :2]
        x = (points[:, 0] - self.left) * self.scaled_width / (self.right - self.left) / self.width
        y = (points[:, 1] - self.top) * self.scaled_height / (self.bottom - self.top) / self.height
        return np.stack([x, y], axis=1)


def person_crop(
    bbox: tuple[float, ...],
    image_width: int,
    image_height: int,
    *,
    enlarge: float = 1.25,
    min_side: int = 256,
) -> Crop:
    """The box enlarged `enlarge` times around its centre, kept within the photo, scaled up
    (never down) so that its shorter side is at least `min_side`."""
    x, y, w, h = bbox
    cx, cy = x + w / 2, y + h / 2
    half_w, half_h = w * enlarge / 2, h * enlarge / 2
    left, right = max(0, math.floor(cx - half_w)), min(image_width, math.ceil(cx + half_w))
    top, bottom = max(0, math.floor(cy - half_h)), min(image_height, math.ceil(cy + half_h))
    return region_crop(left, top, right, bottom, min_side=min_side)


def region_crop(left: int, top: int, right: int, bottom: int, *, min_side: int = 256) -> Crop:
    """A region of a photo scaled up so that its shorter side is at least `min_side`."""
    scale = max(1.0, min_side / min(right - left, bottom - top))
    scaled_width = round((right - left) * scale)
    scaled_height = round((bottom - top) * scale)
    return Crop(
        left,
        top,
        right,
        bottom,
        scaled_width,
        scaled_height,
        scaled_width + scaled_width % 2,
        scaled_height + scaled_height % 2,
    )


def coco_from_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """COCO's 17 keypoints (x, y) from BlazePose's 33 landmarks (rows of x, y, ...)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[0] != 33:
        raise ValueError(f"{points.shape[0]} landmarks, BlazePose has 33")
    return points[list(BLAZEPOSE_TO_COCO), :2]


def oks(predicted: np.ndarray | None, labels: np.ndarray, area: float) -> float:
    """COCO's object keypoint similarity of a prediction ((17, 2) pixels, None: not found)
    with a person's labels ((17, 3))."""
    if predicted is None:
        return 0.0
    labelled = labels[:, 2] > 0
    if not labelled.any():
        raise ValueError("no labelled keypoint")
    squared = ((np.asarray(predicted)[:, :2] - labels[:, :2]) ** 2).sum(axis=1)
    e = squared / (2 * area * (2 * COCO_SIGMAS) ** 2)
    return float(np.exp(-e[labelled]).mean())


def torso(labels: np.ndarray) -> float | None:
    """The person's torso in pixels (`TORSO_PAIRS`), None when neither pair is labelled."""
    for shoulder, hip in TORSO_PAIRS:
        if labels[shoulder, 2] > 0 and labels[hip, 2] > 0:
            size = float(np.hypot(*(labels[shoulder, :2] - labels[hip, :2])))
            if size > 0:
                return size
    return None


def normalised_errors(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    """Each keypoint's distance to its label over the torso ((17,), NaN where unlabelled), or
    None for a person without a torso."""
    size = torso(labels)
    if size is None:
        return None
    distance = np.hypot(*(np.asarray(predicted)[:, :2] - labels[:, :2]).T) / size
    return np.where(labels[:, 2] > 0, distance, np.nan)


def pck_hits(
    predicted: np.ndarray | None, labels: np.ndarray, alpha: float = PCK_ALPHA
) -> tuple[int, int] | None:
    """(keypoints within `alpha` x torso, keypoints labelled); None for a person without a
    torso; a person not found has none right."""
    labelled = int((labels[:, 2] > 0).sum())
    errors = None if predicted is None else normalised_errors(predicted, labels)
    if torso(labels) is None:
        return None
    if errors is None:
        return 0, labelled
    return int((errors[labels[:, 2] > 0] <= alpha).sum()), labelled


def summarize(people: list[Person], predictions: list[np.ndarray | None]) -> dict:
    """The scores of one setting: each person's prediction ((17, 2) pixels) or None."""
    if len(people) != len(predictions) or not people:
        raise ValueError(f"{len(people)} people, {len(predictions)} predictions")
    scores = [
        oks(p, person.keypoints, person.area) for person, p in zip(people, predictions, strict=True)
    ]
    right = labelled = no_torso = 0
    errors = []
    for person, predicted in zip(people, predictions, strict=True):
        hits = pck_hits(predicted, person.keypoints)
        if hits is None:
            no_torso += 1
            continue
        right, labelled = right + hits[0], labelled + hits[1]
        if predicted is not None:
            errors.append(normalised_errors(predicted, person.keypoints))
    table = np.array(errors) if errors else np.full((1, 17), np.nan)
    counted = (~np.isnan(table)).sum(axis=0)
    means = np.nansum(table, axis=0) / np.maximum(counted, 1)
    return {
        "people": len(people),
        "found": sum(p is not None for p in predictions),
        "mean_oks": float(np.mean(scores)),
        "oks_50": float(np.mean([s >= 0.5 for s in scores])),
        "oks_75": float(np.mean([s >= 0.75 for s in scores])),
        "pck": right / labelled if labelled else None,
        "pck_people": len(people) - no_torso,
        "no_torso": no_torso,
        "keypoint_errors": {
            name: round(float(mean), 4) if n else None
            for name, mean, n in zip(COCO_KEYPOINTS, means, counted, strict=True)
        },
        "oks": [round(s, 4) for s in scores],
    }


def free_square(
    width: int,
    height: int,
    boxes: list[tuple[float, ...]],
    *,
    margin: float = 1.5,
    min_side: int = 96,
    step: int = 8,
) -> tuple[int, int, int] | None:
    """The largest square of a photo (left, top, side) that overlaps none of its person boxes,
    each enlarged `margin` times around its centre (a box is tight, a limb may stray out of
    it): the first found, top to bottom, left to right, sides in `step`s down to `min_side`;
    None when there is none."""
    taken = np.zeros((height + 1, width + 1), dtype=np.int64)
    for x, y, w, h in boxes:
        cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * margin / 2, h * margin / 2
        left, right = max(0, math.floor(cx - half_w)), min(width, math.ceil(cx + half_w))
        top, bottom = max(0, math.floor(cy - half_h)), min(height, math.ceil(cy + half_h))
        taken[top + 1 : bottom + 1, left + 1 : right + 1] = 1
    area = taken.cumsum(axis=0).cumsum(axis=1)  # area[y, x]: pixels taken above and left
    for side in range(min(width, height) // step * step, min_side - 1, -step):
        tops = np.arange(0, height - side + 1, step)[:, None]
        lefts = np.arange(0, width - side + 1, step)[None, :]
        inside = (
            area[tops + side, lefts + side]
            - area[tops, lefts + side]
            - area[tops + side, lefts]
            + area[tops, lefts]
        )
        free = np.argwhere(inside == 0)
        if len(free):
            row, col = free[0]
            return int(lefts[0, col]), int(tops[row, 0]), side
    return None

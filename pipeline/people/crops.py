"""Squares and boxes in a frame, for `pipeline.people.multi_pose`: crops of the frame,
boxes of a pose's visible points, how much of one box lies in another, and painting a box
out of a crop."""

from __future__ import annotations

import numpy as np

from pipeline.people.tracking import TORSO, torso_length


def square(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square (x0, y0, side) of the frame; where it reaches past the frame's edges, the
    frame's border pixels are repeated."""
    height, width = rgb.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + side <= width and y0 + side <= height:
        return rgb[y0 : y0 + side, x0 : x0 + side]
    xs = np.clip(np.arange(x0, x0 + side), 0, width - 1)
    ys = np.clip(np.arange(y0, y0 + side), 0, height - 1)
    return rgb[np.ix_(ys, xs)]


def inside_square(
    pose: np.ndarray, x0: int, y0: int, side: int, width: int, height: int, margin: float = 0.03
) -> bool:
    """Whether the pose's visible points (normalised to the frame) keep `margin` of a side
    off the edges of the square (x0, y0, side)."""
    seen = pose[pose[:, 3] >= 0.5, :2].astype(np.float64) * (width, height)
    inside = (seen > np.array([x0, y0]) + margin * side) & (
        seen < np.array([x0, y0]) + (1 - margin) * side
    )
    return bool(len(seen)) and bool(np.all(inside))


def paint(
    crop: np.ndarray, box: np.ndarray, x0: int, y0: int, fill: np.ndarray, share: float = 0.1
) -> bool:
    """Paint the box (x0, y0, x1, y1 in frame pixels), `share` of its size larger on each
    side, over `crop`, the square whose corner is (x0, y0) in the frame, in one colour:
    nobody there for the detector. Whether any of it lay in the square."""
    box = grown(box, share)
    low = np.floor(box[:2] - (x0, y0)).astype(int).clip(0, crop.shape[1::-1])
    high = np.ceil(box[2:] - (x0, y0)).astype(int).clip(0, crop.shape[1::-1])
    if np.any(high <= low):
        return False
    crop[low[1] : high[1], low[0] : high[0]] = fill
    return True


def visible_box(pose: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the visible points (all points when none is visible)."""
    visible = pose[:, 3] >= 0.5
    points = pose[visible if visible.any() else slice(None), :2].astype(np.float64)
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def grown(box: np.ndarray, share: float = 0.1) -> np.ndarray:
    """The box with `share` of its width and height added on each side."""
    grow = share * (box[2:] - box[:2])
    return np.concatenate([box[:2] - grow, box[2:] + grow])


def area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def inside(box: np.ndarray, other: np.ndarray) -> float:
    """The share of `box`'s area that lies inside `other`."""
    overlap = np.concatenate([np.maximum(box[:2], other[:2]), np.minimum(box[2:], other[2:])])
    return area(overlap) / max(area(box), 1e-9)


_FACE = list(range(11))  # nose, eyes, ears, mouth
_FACE_SIDE = 0.6  # of the torso's length: the side of a face's box


def face_box(pose: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """A square (x0, y0, x1, y1, frame pixels) around the pose's face, `_FACE_SIDE` of its
    torso long, centred on its face's points; None if none of them is visible."""
    seen = pose[_FACE, 3] >= 0.5
    if not seen.any():
        return None
    scale = np.array([width, height], dtype=np.float64)
    centre = pose[_FACE, :2][seen].astype(np.float64).mean(axis=0) * scale
    half = _FACE_SIDE * torso_length(pose[list(TORSO), :2].astype(np.float64) * scale) / 2
    return np.concatenate([centre - half, centre + half])

"""Where `pipeline.people.multi_pose` looks: the square tiles a scan covers the frame with, and
each person's region of interest, the square crop their own landmarker follows them in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

_OVERLAP = 0.25  # of a tile's side, at least, between neighbouring tiles
_ROI_MARGIN = 1.6  # crop side, in units of the pose's larger extent
_ROI_MIN_SIDE = 64
_ROI_MIN_TORSOS = 2.5  # crop side, at least, in the person's longest torso lately
_ROI_JUMP = 1.3  # a region's own pose this much larger at once is its crop's fault


def tiles(width: int, height: int, side: int | None = None) -> list[tuple[int, int, int]]:
    """Square tiles (x, y, side) covering the frame, of side `side` (default: min(width,
    height), one row along the longer side), spread evenly with at least `_OVERLAP` of a
    side shared by neighbours."""
    side = min(side or min(width, height), width, height)

    def starts(span: int) -> list[int]:
        count = 1 if span == side else math.ceil((span - side) / (side * (1 - _OVERLAP))) + 1
        return np.linspace(0, span - side, count).round().astype(int).tolist()

    return [(x, y, side) for y in starts(height) for x in starts(width)]


@dataclass
class Region:
    """A person's region of interest: a square (x, y, side) in pixels and its landmarker."""

    landmarker: Any  # a MediaPipe PoseLandmarker in VIDEO mode
    x: int = 0
    y: int = 0
    side: int = 0
    lost: int = 0  # frames since its person was last found here

    def follow(
        self, pose: np.ndarray, width: int, height: int, *, steady: bool, tall: float = 0.0
    ) -> None:
        """Centre the square on the pose's visible points (BlazePose also places the unseen
        ones, far out at times: a square around those takes in the dancer beside, whose face
        the detector may prefer); its side changes only when the pose's size has changed by
        more than a fifth (a steady crop keeps the landmarker's tracking steady). A pose of
        the region's own landmarker (`steady`) `_ROI_JUMP` times larger at once does not
        widen it: a dancer passing behind another makes the landmarker guess a body that
        takes in the one in front, and a wider crop would take that one in next. Nor is the
        side under `_ROI_MIN_TORSOS` of the person's longest torso lately (`tall`, pixels, as
        the tracker keeps it from the poses it gave them): a partial pose would shrink the
        crop until it cuts the dancer."""
        seen = pose[:, 3] >= 0.5
        points = pose[seen if seen.sum() >= 4 else slice(None), :2].astype(np.float64)
        points *= (width, height)
        low, high = points.min(axis=0), points.max(axis=0)
        side = max(_ROI_MIN_SIDE, int(round(float((high - low).max()) * _ROI_MARGIN)))
        jump = steady and side > _ROI_JUMP * self.side
        side = max(side, int(round(_ROI_MIN_TORSOS * tall)))
        if not self.side or (abs(side - self.side) > 0.2 * self.side and not jump):
            self.side = side
        centre = (low + high) / 2
        self.x = int(round(centre[0] - self.side / 2))
        self.y = int(round(centre[1] - self.side / 2))

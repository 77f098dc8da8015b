"""Draw the skeleton and a small HUD onto an RGB frame, in place."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.analysis.angles import ANGLE_NAMES, LABEL_ANCHORS
from pipeline.pose.blazepose import CONNECTIONS

VISIBILITY_THRESHOLD = 0.5
_FONT = cv2.FONT_HERSHEY_SIMPLEX

# RGB. Left side warm, right side cool, centre line white: dancers read mirrored moves fast.
_LEFT, _RIGHT, _CENTRE = (255, 140, 0), (0, 180, 255), (240, 240, 240)
_LEFT_POINTS = {1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
_RIGHT_POINTS = {4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32}


def _side_colour(a: int, b: int) -> tuple[int, int, int]:
    if a in _LEFT_POINTS and b in _LEFT_POINTS:
        return _LEFT
    if a in _RIGHT_POINTS and b in _RIGHT_POINTS:
        return _RIGHT
    return _CENTRE


_CONNECTION_COLOURS = [_side_colour(a, b) for a, b in CONNECTIONS]

# Several dancers: one colour each (by id, repeating), far apart in hue; RGB.
PERSON_COLOURS = (
    (255, 140, 0),
    (0, 180, 255),
    (80, 220, 80),
    (240, 70, 200),
    (255, 230, 40),
    (160, 120, 255),
    (0, 230, 200),
    (255, 90, 90),
)


def person_colour(person_id: int) -> tuple[int, int, int]:
    return PERSON_COLOURS[(person_id - 1) % len(PERSON_COLOURS)]


class Overlay:
    """Sizes (line width, font) are fixed per video from its resolution."""

    def __init__(
        self, width: int, height: int, *, visibility_threshold: float = VISIBILITY_THRESHOLD
    ):
        self.width, self.height = width, height
        short = min(width, height)
        self.line = max(2, round(short / 270))
        self.radius = max(3, round(short / 180))
        self.font_scale = max(0.4, short / 1200)
        self.font_thickness = max(1, round(short / 540))
        self.visibility_threshold = visibility_threshold

    def draw(
        self,
        rgb: np.ndarray,
        landmarks: np.ndarray | None,
        *,
        frame_index: int,
        total_frames: int,
        time_s: float,
    ) -> None:
        if landmarks is not None:
            self._skeleton(rgb, landmarks)
        self._hud(rgb, frame_index, total_frames, time_s, detected=landmarks is not None)

    def draw_people(
        self,
        rgb: np.ndarray,
        people: list[tuple[int, np.ndarray]],
        *,
        frame_index: int,
        total_frames: int,
        time_s: float,
    ) -> None:
        """Several dancers: each skeleton in its person's colour, with its id above the head."""
        for person_id, landmarks in people:
            colour = person_colour(person_id)
            self._skeleton(rgb, landmarks, colour=colour)
            self._id_label(rgb, person_id, landmarks, colour)
        self._hud(rgb, frame_index, total_frames, time_s, detected=bool(people), people=len(people))

    def _id_label(
        self, rgb: np.ndarray, person_id: int, landmarks: np.ndarray, colour: tuple[int, int, int]
    ) -> None:
        """`#id` in a box of the person's colour, centred above the highest visible point."""
        text = f"#{person_id}"
        x0, y0, x1, y1 = self.id_box(text, landmarks)
        (_, th), _ = cv2.getTextSize(text, _FONT, self.font_scale, self.font_thickness)
        pad = max(2, th // 3)
        cv2.rectangle(rgb, (x0, y0), (x1, y1), colour, -1)
        cv2.putText(
            rgb,
            text,
            (x0 + pad, y0 + pad + th),
            _FONT,
            self.font_scale,
            (20, 20, 20),
            self.font_thickness,
            cv2.LINE_AA,
        )

    def id_box(self, text: str, landmarks: np.ndarray) -> tuple[int, int, int, int]:
        """Where `_id_label` puts `text` for these landmarks: (x0, y0, x1, y1), inclusive."""
        visible = landmarks[:, 3] >= self.visibility_threshold
        points = landmarks[visible if visible.any() else slice(None), :2]
        x = int(round(float(points[:, 0].mean()) * self.width))
        top = int(round(float(points[:, 1].min()) * self.height))
        (tw, th), base = cv2.getTextSize(text, _FONT, self.font_scale, self.font_thickness)
        pad = max(2, th // 3)
        x0 = min(max(0, x - tw // 2 - pad), max(0, self.width - tw - 2 * pad))
        y0 = min(max(0, top - th - base - 3 * pad), max(0, self.height - th - base - 2 * pad))
        return x0, y0, x0 + tw + 2 * pad, y0 + th + base + 2 * pad

    def angle_labels(self, rgb: np.ndarray, landmarks: np.ndarray, values: np.ndarray) -> None:
        """Each known joint angle (degrees, in `ANGLE_NAMES` order) written beside its joint,
        with a small ring for the degree sign (OpenCV's fonts have none)."""
        font, scale = cv2.FONT_HERSHEY_SIMPLEX, self.font_scale * 0.8
        thickness = self.font_thickness
        offset = 2 * self.radius
        for name, value in zip(ANGLE_NAMES, values.tolist(), strict=True):
            anchor = LABEL_ANCHORS.get(name)
            if anchor is None or not math.isfinite(value):
                continue
            if landmarks[anchor, 3] < self.visibility_threshold:
                continue
            colour = _LEFT if anchor in _LEFT_POINTS else _RIGHT
            x = int(round(float(landmarks[anchor, 0]) * self.width)) + offset
            y = int(round(float(landmarks[anchor, 1]) * self.height))
            text = f"{value:.0f}"
            (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
            for ink, width in (((20, 20, 20), thickness + 2), (colour, thickness)):
                cv2.putText(rgb, text, (x, y), font, scale, ink, width, cv2.LINE_AA)
                ring = (x + tw + max(2, th // 4), y - th + max(2, th // 4))
                cv2.circle(rgb, ring, max(2, th // 5), ink, max(1, width - 1), cv2.LINE_AA)

    def _skeleton(
        self, rgb: np.ndarray, landmarks: np.ndarray, *, colour: tuple[int, int, int] | None = None
    ) -> None:
        """Left side warm, right side cool; or all in `colour` (one dancer among several)."""
        points = np.round(landmarks[:, :2] * (self.width, self.height)).astype(np.int32)
        visible = landmarks[:, 3] >= self.visibility_threshold
        for (a, b), side in zip(CONNECTIONS, _CONNECTION_COLOURS, strict=True):
            if visible[a] and visible[b]:
                ink = colour or side
                cv2.line(rgb, tuple(points[a]), tuple(points[b]), ink, self.line, cv2.LINE_AA)
        for i in np.flatnonzero(visible):
            ink = colour or (
                _LEFT if i in _LEFT_POINTS else _RIGHT if i in _RIGHT_POINTS else _CENTRE
            )
            cv2.circle(rgb, tuple(points[i]), self.radius, ink, -1, cv2.LINE_AA)
            cv2.circle(rgb, tuple(points[i]), self.radius, (20, 20, 20), 1, cv2.LINE_AA)

    def _hud(
        self,
        rgb: np.ndarray,
        index: int,
        total: int,
        time_s: float,
        *,
        detected: bool,
        people: int | None = None,
    ) -> None:
        total_text = f"/{total}" if total else ""
        found = ("yes" if detected else "no") if people is None else str(people)
        label = "pose" if people is None else "people"
        text = f"frame {index + 1}{total_text}  {time_s:6.2f} s  {label}: {found}"
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), base = cv2.getTextSize(text, font, self.font_scale, self.font_thickness)
        pad = max(4, th // 2)
        x1, y1 = min(self.width, tw + 3 * pad), min(self.height, th + base + 3 * pad)
        box = rgb[pad:y1, pad:x1]
        box[:] = (box * 0.45).astype(np.uint8)  # darkened backdrop keeps the text readable
        colour = (120, 255, 120) if detected else (255, 120, 120)
        cv2.putText(
            rgb,
            text,
            (2 * pad, pad + th + pad),
            font,
            self.font_scale,
            colour,
            self.font_thickness,
            cv2.LINE_AA,
        )

"""Footage of several real people with its ground truth, for the tracking benchmark
(`bench/bench_tracking.py`) and the tracking tests.

The people are photos of real people (scikit-image's `astronaut` and `camera`, and each of
them mirrored for a third and fourth: twins in the same costume, as in a dance troupe; the
shared `person_photo.jpg` holds three people, so it is no one actor), each moved along a
path across a plain textured stage:
side by side, crossing in front of each other, walking out of the picture and back. Where
each person is in every frame is known from the compositing itself: the person's box in
their own photo, found once by the single-person BlazePose solution on the photo alone,
carried through the photo's placement in that frame (and so is the point between their shoulders,
where the run's pose must be to count as that person). A person counts as visible in a frame
when at least `VISIBLE_SHARE` of that box is inside the frame and not covered by someone in
front; the ground truth lists only those.

Paths are in units of the stage's height, so one scene renders at any size (640x360 for the
tests, 1280x720 and 1920x1080 for the speed table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.video.samples import steady_encoding

VISIBLE_SHARE = 0.6  # of a person's box, in the frame and uncovered, to count as visible
STAGE = (70, 90, 110)  # RGB

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
Point = tuple[float, float]
SHOULDERS = (11, 12)
Place = tuple[float, float, float] | None  # photo's centre x, bottom y, height: stage heights


@dataclass(frozen=True)
class Actor:
    """A photo of one person, where that person is in it (normalised x0, y0, x1, y1) and the
    point between their shoulders (normalised)."""

    name: str
    image: np.ndarray
    box: Box
    neck: Point


@dataclass(frozen=True)
class Seen:
    """A person visible in a frame: their id (1, 2 ... in the scene's order), box and the point
    between their shoulders, in pixels."""

    id: int
    box: Box
    neck: Point


@cache
def actor(name: str) -> Actor:
    """`astronaut` or `camera`, or either with `-mirrored` (the same person the other way
    round)."""
    from pipeline.video.samples import person_image

    base, _, variant = name.partition("-")
    image = person_image(base)
    if variant == "mirrored":
        image = np.ascontiguousarray(image[:, ::-1])
    return Actor(name, image, *_person_box(image))


def _person_box(image: np.ndarray) -> tuple[Box, Point]:
    """The box of the landmarks BlazePose sees (visibility >= 0.5) in the photo alone, and
    the point between the shoulders."""
    from pipeline.pose.blazepose import PoseEstimator

    with PoseEstimator() as pose:
        for _ in range(3):  # the first calls detect; later ones refine by tracking
            landmarks = pose.estimate(image)
    if landmarks is None:
        raise ValueError("no person found in the photo")
    seen = landmarks[landmarks[:, 3] >= 0.5, :2]
    x0, y0 = np.clip(seen.min(axis=0), 0, 1)
    x1, y1 = np.clip(seen.max(axis=0), 0, 1)
    cx, cy = landmarks[list(SHOULDERS), :2].mean(axis=0)
    return (float(x0), float(y0), float(x1), float(y1)), (float(cx), float(cy))


@dataclass(frozen=True)
class Part:
    """One person of a scene: the actor and, per frame, where the photo is (None: off
    stage). Parts are drawn in order, so a later part passes in front of an earlier one."""

    actor: str
    place: Callable[[int], Place]


@dataclass(frozen=True)
class Scene:
    name: str
    aspect: float  # width / height
    frames: int
    fps: int
    parts: tuple[Part, ...]
    height: int = 240  # the size the tracking table renders it at

    @property
    def people(self) -> int:
        return len(self.parts)

    def size(self, height: int) -> tuple[int, int]:
        width = int(round(height * self.aspect))
        return width - width % 2, height

    def render(self, height: int) -> Iterator[tuple[np.ndarray, list[Seen]]]:
        """Each frame (RGB) with its ground truth: the people visible in it."""
        width, height = self.size(height)
        actors = [actor(part.actor) for part in self.parts]
        for i in range(self.frames):
            canvas = np.empty((height, width, 3), np.uint8)
            canvas[:] = STAGE
            _texture(canvas, i)
            tiles: list[tuple[int, int, int, int] | None] = []
            for part, person in zip(self.parts, actors, strict=True):
                tiles.append(_paste(canvas, person.image, part.place(i), height))
            truth = []
            for k, (person, tile) in enumerate(zip(actors, tiles, strict=True)):
                if tile is None:
                    continue
                box = _box_in(tile, person.box)
                covers = [t for t in tiles[k + 1 :] if t is not None]
                if _visible_share(box, covers, width, height) >= VISIBLE_SHARE:
                    clipped = (
                        max(box[0], 0),
                        max(box[1], 0),
                        min(box[2], width),
                        min(box[3], height),
                    )
                    truth.append(Seen(k + 1, clipped, _point_in(tile, person.neck)))
            yield canvas, truth

    def write(self, path: Path, height: int, crf: int = 20) -> list[list[Seen]]:
        """Encode the scene as H.264 (x264 `fast`, as a camera would; `crf` its quality), the
        same bytes each time, and return its ground truth per frame."""
        width, height = self.size(height)
        truth = []
        tmp = path.with_suffix(".part.mp4")
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream("libx264", rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # the same bytes each time, and so a run's scores (`steady_encoding`)
            stream.options = {"preset": "fast", "crf": str(crf), **steady_encoding("libx264")}
            for i, (rgb, frame_truth) in enumerate(self.render(height)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
                truth.append(frame_truth)
            out.mux(stream.encode(None))
        tmp.rename(path)
        return truth


def _texture(canvas: np.ndarray, i: int) -> None:
    """A floor line and a slowly moving light, so the stage is not one flat colour."""
    height, width = canvas.shape[:2]
    cv2.line(canvas, (0, int(height * 0.93)), (width, int(height * 0.93)), (95, 110, 125), 2)
    centre = (int(width * (0.5 + 0.4 * math.sin(i / 90))), int(height * 0.08))
    cv2.circle(canvas, centre, max(4, height // 40), (200, 200, 80), -1)


def _paste(
    canvas: np.ndarray, image: np.ndarray, place: Place, stage_height: int
) -> tuple[int, int, int, int] | None:
    """Draw the photo at `place`; its tile (x0, y0, x1, y1) in pixels, unclipped."""
    if place is None:
        return None
    cx, bottom, h = (v * stage_height for v in place)
    tile_h = max(2, int(round(h)))
    tile_w = max(2, int(round(h * image.shape[1] / image.shape[0])))
    x0, y0 = int(round(cx - tile_w / 2)), int(round(bottom - tile_h))
    height, width = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + tile_w, width), min(y0 + tile_h, height)
    if cx1 > cx0 and cy1 > cy0:
        scaled = cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        canvas[cy0:cy1, cx0:cx1] = scaled[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    return x0, y0, x0 + tile_w, y0 + tile_h


def _box_in(tile: tuple[int, int, int, int], box: Box) -> Box:
    x0, y0, x1, y1 = tile
    w, h = x1 - x0, y1 - y0
    return x0 + box[0] * w, y0 + box[1] * h, x0 + box[2] * w, y0 + box[3] * h


def _point_in(tile: tuple[int, int, int, int], point: Point) -> Point:
    x0, y0, x1, y1 = tile
    return x0 + point[0] * (x1 - x0), y0 + point[1] * (y1 - y0)


def _visible_share(box: Box, covers: list, width: int, height: int) -> float:
    """The share of `box` inside the frame and outside every tile in `covers`."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    area = max(1, (x1 - x0) * (y1 - y0))
    mask = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), bool)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if fx1 <= fx0 or fy1 <= fy0:
        return 0.0
    mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = True
    for tx0, ty0, tx1, ty1 in covers:
        mask[max(ty0 - y0, 0) : max(ty1 - y0, 0), max(tx0 - x0, 0) : max(tx1 - x0, 0)] = False
    return float(mask.sum()) / area


# Scenes. Places are (centre x, bottom, height) in stage heights; t is the frame number.


def _sway(x: float, h: float, phase: float, amount: float = 0.1) -> Callable[[int], Place]:
    return lambda t: (
        x + amount * math.sin(t / 15 + phase),
        0.97,
        h * (1 + 0.04 * math.sin(t / 10 + phase)),
    )


def _walk(x_from: float, x_to: float, period: int, h: float, phase: float = 0.0):
    """Back and forth between two x positions, a full round every `period` frames."""

    def place(t: int) -> Place:
        s = 0.5 - 0.5 * math.cos(2 * math.pi * t / period + phase)
        return x_from + (x_to - x_from) * s, 0.97, h * (1 + 0.03 * math.sin(t / 8))

    return place


def _out_and_back(x: float, away_x: float, leave: int, gone: int, h: float, walk: int = 45):
    """Stay at `x`, walk to `away_x` (off stage) from frame `leave`, stay away `gone` frames,
    walk back."""

    def place(t: int) -> Place:
        if t < leave:
            s = 0.0
        elif t < leave + walk:
            s = (t - leave) / walk
        elif t < leave + walk + gone:
            return None
        elif t < leave + 2 * walk + gone:
            s = 1 - (t - leave - walk - gone) / walk
        else:
            s = 0.0
        return x + (away_x - x) * s, 0.97, h

    return place


def _pair(name: str, aspect: float, frames: int, astronaut, camera) -> Scene:
    """The astronaut behind, the camera man in front, at 30 fps."""
    return Scene(name, aspect, frames, 30, (Part("astronaut", astronaut), Part("camera", camera)))


def side_by_side(frames: int = 500) -> Scene:
    """The issue's case: two dancers in two halves of a 640x240 frame, never touching."""
    return _pair(
        "side by side", 8 / 3, frames, _sway(0.68, 0.9, 0.0, 0.12), _sway(2.0, 0.9, 2.0, 0.12)
    )


def crossing(frames: int = 450) -> Scene:
    """Two dancers walking across the stage in opposite directions, the second in front: they
    cross three times, the first hidden behind the second each time."""
    return _pair(
        "crossing", 16 / 9, frames, _walk(0.35, 1.43, 300, 0.8), _walk(1.43, 0.35, 300, 0.8)
    )


def leave_and_return(frames: int = 450, gone_s: float = 3.0) -> Scene:
    """Two dancers; one walks off the stage, stays away `gone_s` seconds (at 30 fps) and
    comes back."""
    away = _out_and_back(1.2, 2.3, 90, int(gone_s * 30), 0.85)
    return _pair("leaves and returns", 16 / 9, frames, _sway(0.5, 0.85, 0.0), away)


def row(people: int, frames: int = 300, height: int = 480) -> Scene:
    """`people` dancers in a row, each swaying in a place of their own (the speed table; at
    480 px four of them are 190 px tall)."""
    names = ("astronaut", "camera", "astronaut-mirrored", "camera-mirrored")
    slot = (16 / 9) / people
    size = min(0.9, 0.9 * slot)  # the photos are about square: side by side, not overlapping
    parts = tuple(
        Part(names[k % len(names)], _sway(slot * (k + 0.5), size, k * 1.3, 0.04 * slot))
        for k in range(people)
    )
    return Scene(f"{people} in a row", 16 / 9, frames, 30, parts, height)

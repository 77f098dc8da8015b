"""Write `keypoints.json` one frame at a time, and read it back.

Schema version 3 (one dancer, `max_people` 1), documented in the manual (docs/outputs.md):
{"schema_version": 3, "video": {...}, "model": "full", "landmark_names": [33 names],
 "world_landmarks": {"units": "m", "origin": ..., "axes": ..., "smoothing": ...},
 "frames": [{"frame": 0, "time_s": 0.0, "detected": true,
             "landmarks": [{"x": .., "y": .., "z": .., "visibility": ..} x 33],
             "world_landmarks": [{"x": .., "y": .., "z": ..} x 33]},
            {"frame": 1, "time_s": 0.033, "detected": false, "landmarks": null,
             "world_landmarks": null}, ...],
 "frame_count": N}

Schema version 4 (several dancers, `max_people` > 1): the same, except that each frame holds
`people` instead of `landmarks`, ordered by id; `detected` is true when anyone was found;
`out_of_view` lists the ids seen in an earlier frame and not found in this one (no pose is
made up for them):
 "frames": [{"frame": 0, "time_s": 0.0, "detected": true,
             "people": [{"id": 1, "visibility": 0.91, "landmarks": [33 points as above],
                         "world_landmarks": [33 points]},
                        {"id": 2, ...}], "out_of_view": []}, ...]

What changed: version 3 is version 1 and version 4 is version 2, each with the world
landmarks added (per frame, or per dancer in a frame: metres, between the hips, the axes of
`pipeline.motion.world`, smoothed; null where `landmarks` is null); nothing was renamed
or removed, so a reader of 1 or 2 reads 3 or 4 once it accepts the new number. `model`
(the pose model that made the landmarks: lite, full or heavy) came later, beside them, and
so did `smoothing` ({"level": "light", "sigma_s": 0.025, "method": ...}, `pipeline.pose.steady`)
with, unless its level is "none", a `smoothed_landmarks` copy beside each `landmarks` (the
same 33 points filtered without lag: what the overlay draws; `landmarks` stay the model's).
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np

from pipeline.pose.blazepose import LANDMARK_NAMES

SCHEMA_VERSION = 3
PEOPLE_SCHEMA_VERSION = 4
PEOPLE_LAYOUT = (2, PEOPLE_SCHEMA_VERSION)  # versions whose frames hold `people`


def _points(landmarks: np.ndarray) -> str:
    return (
        "["
        + ",".join(
            f'{{"x":{x:.5f},"y":{y:.5f},"z":{z:.5f},"visibility":{v:.4f}}}'
            for x, y, z, v in np.nan_to_num(landmarks).tolist()
        )
        + "]"
    )


def _world(points: np.ndarray | None) -> str:
    if points is None or not np.isfinite(points[:, :3]).all():
        return "null"
    return (
        "["
        + ",".join(f'{{"x":{x:.5f},"y":{y:.5f},"z":{z:.5f}}}' for x, y, z in points[:, :3].tolist())
        + "]"
    )


def _smoothed(landmarks: np.ndarray | None, smoothed: np.ndarray | None) -> str:
    """The `smoothed_landmarks` member and its comma, or nothing (no smoothing)."""
    if landmarks is None or smoothed is None:
        return ""
    return f'"smoothed_landmarks":{_points(smoothed)},'


def landmarks_array(points: list[dict], dtype=np.float32) -> np.ndarray:
    """A frame's 33 points as read back from keypoints.json: a (33, 4) array [x, y, z,
    visibility]."""
    return np.array([[p["x"], p["y"], p["z"], p["visibility"]] for p in points], dtype=dtype)


def world_array(points: list[dict] | None) -> np.ndarray | None:
    """A frame's 33 world landmarks as read back from keypoints.json: (33, 3), or None."""
    if not points:
        return None
    return np.array([[p["x"], p["y"], p["z"]] for p in points], dtype=np.float64)


class KeypointsWriter:
    """`add` (version 3) or `add_people` (version 4, `people=True`) once per frame. `world`:
    what the world landmarks are (`pipeline.pose.landmark_outputs`)."""

    def __init__(
        self,
        path: str | os.PathLike,
        video: dict[str, Any],
        *,
        people: bool = False,
        world: dict[str, Any] | None = None,
        model: str = "full",
        smoothing: dict[str, Any] | None = None,
    ):
        self._fh: IO[str] = open(path, "w", encoding="utf-8")
        head = {
            "schema_version": PEOPLE_SCHEMA_VERSION if people else SCHEMA_VERSION,
            "video": video,
            "model": model,
            "smoothing": smoothing or {"level": "none"},
            "landmark_names": list(LANDMARK_NAMES),
            "world_landmarks": world or {},
        }
        self._fh.write(json.dumps(head)[:-1] + ', "frames": [\n')
        self.count = 0
        self._seen: set[int] = set()  # ids found so far (version 4)

    def add(
        self,
        frame: int,
        time_s: float,
        landmarks: np.ndarray | None,
        world: np.ndarray | None = None,
        smoothed: np.ndarray | None = None,
    ) -> None:
        points = "null" if landmarks is None else _points(landmarks)
        world_points = "null" if landmarks is None else _world(world)
        sep = ",\n" if self.count else ""
        self._fh.write(
            f'{sep}{{"frame":{frame},"time_s":{time_s:.4f},'
            f'"detected":{"true" if landmarks is not None else "false"},"landmarks":{points},'
            f"{_smoothed(landmarks, smoothed)}"
            f'"world_landmarks":{world_points}}}'
        )
        self.count += 1

    def add_people(
        self,
        frame: int,
        time_s: float,
        people: list[tuple[int, np.ndarray]],
        world: dict[int, np.ndarray] | None = None,
        smoothed: list[tuple[int, np.ndarray]] | None = None,
    ) -> None:
        world = world or {}
        steady = dict(smoothed or [])
        entries = ",".join(
            f'{{"id":{person_id},"visibility":{float(np.nan_to_num(points[:, 3]).mean()):.4f},'
            f'"landmarks":{_points(points)},{_smoothed(points, steady.get(person_id))}'
            f'"world_landmarks":{_world(world.get(person_id))}}}'
            for person_id, points in people
        )
        present = {person_id for person_id, _ in people}
        away = ",".join(str(person_id) for person_id in sorted(self._seen - present))
        self._seen |= present
        sep = ",\n" if self.count else ""
        self._fh.write(
            f'{sep}{{"frame":{frame},"time_s":{time_s:.4f},'
            f'"detected":{"true" if people else "false"},"people":[{entries}],'
            f'"out_of_view":[{away}]}}'
        )
        self.count += 1

    def close(self) -> None:
        self._fh.write(f'\n], "frame_count": {self.count}}}\n')
        self._fh.close()

    def abort(self) -> None:
        self._fh.close()

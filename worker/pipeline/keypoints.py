"""Stream `keypoints.json` to disk one frame at a time (memory does not grow with length).

Schema version 1 (one dancer, `max_people` 1), documented in the README:
{"schema_version": 1, "video": {...}, "landmark_names": [33 names],
 "frames": [{"frame": 0, "time_s": 0.0, "detected": true,
             "landmarks": [{"x": .., "y": .., "z": .., "visibility": ..} x 33]},
            {"frame": 1, "time_s": 0.033, "detected": false, "landmarks": null}, ...],
 "frame_count": N}

Schema version 2 (several dancers, `max_people` > 1): the same, except that each frame holds
`people` instead of `landmarks`, ordered by id; `detected` is true when anyone was found;
`out_of_view` lists the ids seen in an earlier frame and not found in this one (no pose is
made up for them):
 "frames": [{"frame": 0, "time_s": 0.0, "detected": true,
             "people": [{"id": 1, "visibility": 0.91, "landmarks": [33 points as above]},
                        {"id": 2, ...}], "out_of_view": []}, ...]
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np

from worker.pipeline.pose import LANDMARK_NAMES

SCHEMA_VERSION = 1
PEOPLE_SCHEMA_VERSION = 2


def _points(landmarks: np.ndarray) -> str:
    return (
        "["
        + ",".join(
            f'{{"x":{x:.5f},"y":{y:.5f},"z":{z:.5f},"visibility":{v:.4f}}}'
            for x, y, z, v in np.nan_to_num(landmarks).tolist()
        )
        + "]"
    )


def landmarks_array(points: list[dict], dtype=np.float32) -> np.ndarray:
    """A frame's 33 points as read back from keypoints.json: a (33, 4) array [x, y, z,
    visibility]."""
    return np.array([[p["x"], p["y"], p["z"], p["visibility"]] for p in points], dtype=dtype)


class KeypointsWriter:
    """`add` (version 1) or `add_people` (version 2, `people=True`) once per frame."""

    def __init__(self, path: str | os.PathLike, video: dict[str, Any], *, people: bool = False):
        self._fh: IO[str] = open(path, "w", encoding="utf-8")
        head = {
            "schema_version": PEOPLE_SCHEMA_VERSION if people else SCHEMA_VERSION,
            "video": video,
            "landmark_names": list(LANDMARK_NAMES),
        }
        self._fh.write(json.dumps(head)[:-1] + ', "frames": [\n')
        self.count = 0
        self._seen: set[int] = set()  # ids found so far (version 2)

    def add(self, frame: int, time_s: float, landmarks: np.ndarray | None) -> None:
        points = "null" if landmarks is None else _points(landmarks)
        sep = ",\n" if self.count else ""
        self._fh.write(
            f'{sep}{{"frame":{frame},"time_s":{time_s:.4f},'
            f'"detected":{"true" if landmarks is not None else "false"},"landmarks":{points}}}'
        )
        self.count += 1

    def add_people(self, frame: int, time_s: float, people: list[tuple[int, np.ndarray]]) -> None:
        entries = ",".join(
            f'{{"id":{person_id},"visibility":{float(np.nan_to_num(points[:, 3]).mean()):.4f},'
            f'"landmarks":{_points(points)}}}'
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

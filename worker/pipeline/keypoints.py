"""Stream `keypoints.json` to disk one frame at a time (memory does not grow with length).

Schema (version 1), documented in the README:
{"schema_version": 1, "video": {...}, "landmark_names": [33 names],
 "frames": [{"frame": 0, "time_s": 0.0, "detected": true,
             "landmarks": [{"x": .., "y": .., "z": .., "visibility": ..} x 33]},
            {"frame": 1, "time_s": 0.033, "detected": false, "landmarks": null}, ...],
 "frame_count": N}
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np

from worker.pipeline.pose import LANDMARK_NAMES

SCHEMA_VERSION = 1


class KeypointsWriter:
    def __init__(self, path: str | os.PathLike, video: dict[str, Any]):
        self._fh: IO[str] = open(path, "w", encoding="utf-8")
        head = {
            "schema_version": SCHEMA_VERSION,
            "video": video,
            "landmark_names": list(LANDMARK_NAMES),
        }
        self._fh.write(json.dumps(head)[:-1] + ', "frames": [\n')
        self.count = 0

    def add(self, frame: int, time_s: float, landmarks: np.ndarray | None) -> None:
        if landmarks is None:
            points = "null"
        else:
            points = (
                "["
                + ",".join(
                    f'{{"x":{x:.5f},"y":{y:.5f},"z":{z:.5f},"visibility":{v:.4f}}}'
                    for x, y, z, v in np.nan_to_num(landmarks).tolist()
                )
                + "]"
            )
        sep = ",\n" if self.count else ""
        self._fh.write(
            f'{sep}{{"frame":{frame},"time_s":{time_s:.4f},'
            f'"detected":{"true" if landmarks is not None else "false"},"landmarks":{points}}}'
        )
        self.count += 1

    def close(self) -> None:
        self._fh.write(f'\n], "frame_count": {self.count}}}\n')
        self._fh.close()

    def abort(self) -> None:
        self._fh.close()

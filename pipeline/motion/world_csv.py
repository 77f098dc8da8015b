"""`world_landmarks.csv`: the world landmarks in long form for spreadsheets and pandas, one row
per frame, dancer and landmark: `frame,time_s,person,landmark,x,y,z,visibility`, metres,
hip-centred, in the axes of `pipeline.motion.world` (x the image's right, y up, z
toward the camera). Only frames where the dancer is known; `visibility` is empty in a short
gap the smoothing filled."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.motion.world import WorldTrack
from pipeline.pose.blazepose import LANDMARK_NAMES

COLUMNS = ("frame", "time_s", "person", "landmark", "x", "y", "z", "visibility")


def write_world_csv(path: Path, frames: np.ndarray, tracks: list[WorldTrack]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(COLUMNS) + "\r\n")  # as csv.writer ends its lines
        for i, frame in enumerate(frames.tolist()):
            for track in tracks:
                if not track.known[i]:
                    continue
                start = f"{frame},{track.times[i]:.4f},{track.person},"
                out.writelines(
                    f"{start}{name},{x:.5f},{y:.5f},{z:.5f},{_visibility(seen)}\r\n"
                    for name, (x, y, z), seen in zip(
                        LANDMARK_NAMES,
                        track.points[i].tolist(),
                        track.visibility[i].tolist(),
                        strict=True,
                    )
                )


def _visibility(seen: float) -> str:
    return f"{seen:.4f}" if math.isfinite(seen) else ""

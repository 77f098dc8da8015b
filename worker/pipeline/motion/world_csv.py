"""`world_landmarks.csv`: the world landmarks in long form for spreadsheets and pandas, one row
per frame, dancer and landmark: `frame,time_s,person,landmark,x,y,z,visibility`, metres,
hip-centred, in the axes of `worker.pipeline.motion.world` (x the image's right, y up, z
toward the camera). Only frames where the dancer is known; `visibility` is empty in a short
gap the smoothing filled."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from worker.pipeline.motion.world import WorldTrack
from worker.pipeline.pose import LANDMARK_NAMES

COLUMNS = ("frame", "time_s", "person", "landmark", "x", "y", "z", "visibility")


def write_world_csv(path: Path, frames: np.ndarray, tracks: list[WorldTrack]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i, frame in enumerate(frames.tolist()):
            for track in tracks:
                if not track.known[i]:
                    continue
                for name, point, seen in zip(
                    LANDMARK_NAMES, track.points[i], track.visibility[i], strict=True
                ):
                    writer.writerow(
                        [
                            frame,
                            f"{track.times[i]:.4f}",
                            track.person,
                            name,
                            *(f"{v:.5f}" for v in point),
                            f"{seen:.4f}" if np.isfinite(seen) else "",
                        ]
                    )

"""`markers.trc`: a dancer's 33 landmarks as marker trajectories in the TRC format OpenSim
reads, as Sports2D and Pose2Sim write it: five header lines (`PathFileType 4 (X/Y/Z)`, the
rates, frame and marker counts and units, the marker names, their X/Y/Z columns), then one
tab-separated row a frame: `Frame#` (from 1), `Time` (seconds), X, Y, Z of each marker.

Metres, in OpenSim's axes for a dancer facing the camera: X forward (toward the camera), Y
up, Z to the dancer's right (the image's left). Markers are the world landmarks placed at the
dancer's position (`WorldTrack.root`); a frame where the dancer is unknown has empty fields.
Marker names are BlazePose's landmark names (`left_knee` ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.motion.world import WorldTrack
from pipeline.pose.blazepose import LANDMARK_NAMES

# (x, y, z) of `pipeline.motion.world` -> OpenSim's (X, Y, Z): X = z, Y = y, Z = -x
_TO_OPENSIM = (np.array([2, 1, 0]), np.array([1.0, 1.0, -1.0]))


def markers(track: WorldTrack) -> np.ndarray:
    """(T, 33, 3) marker positions in OpenSim's axes, NaN where unknown."""
    order, sign = _TO_OPENSIM
    placed = track.points + track.root[:, None, :]
    return placed[:, :, order] * sign


def write_trc(path: Path, track: WorldTrack, fps: float) -> bool:
    """Write the dancer's TRC; False (nothing written) if the dancer is never known."""
    if not track.known.any():
        return False
    values = markers(track)
    rate = f"{fps:g}"
    names = list(LANDMARK_NAMES)
    header = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{len(values)}\t{len(names)}\tm\t{rate}\t1\t{len(values)}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(names) + 1)),
    ]
    cells = values.reshape(len(values), -1)
    cells = np.where(np.isfinite(cells), cells, np.nan)  # unknown: empty ("nan" removed)
    row = "\t".join(["%d", "%.5f"] + ["%.5f"] * cells.shape[1]) + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(header) + "\n")
        out.writelines(
            (row % (i + 1, time_s, *frame)).replace("nan", "")
            for i, (time_s, frame) in enumerate(
                zip(track.times.tolist(), cells.tolist(), strict=True)
            )
        )
    return True

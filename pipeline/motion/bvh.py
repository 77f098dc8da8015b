"""`motion.bvh`: a dancer's skeleton and its joint rotations (`pipeline.motion.skeleton`)
in the Biovision Hierarchy format that Blender, MotionBuilder, Maya and most BVH parsers read.

Units are metres (Blender's own: the skeleton imports at the dancer's size), y up, the dancer
facing +z in the rest pose (a T-pose); one frame per video frame at the video's rate. The
root's position is the point between the hips (`WorldTrack.root`); every joint has three
rotation channels, `Zrotation Xrotation Yrotation`. BVH has no missing values: a frame where
the dancer is unknown holds the last known pose (before the first one, the first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.motion import skeleton
from pipeline.motion.world import WorldTrack

_POSITION = "Xposition Yposition Zposition"
_ROTATION = "Zrotation Xrotation Yrotation"


def held(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`values` (T, ...) with each unknown frame holding the last known one (the first known
    one before it)."""
    index = np.where(known, np.arange(len(known)), -1)
    last = np.maximum.accumulate(index)
    last[last < 0] = int(np.flatnonzero(known)[0])
    return values[last]


def motion(track: WorldTrack) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
    """(offsets, root positions (T, 3), angles (T, joints, 3) in degrees) of the dancer's
    skeleton; None if the dancer is never known."""
    known = track.known & np.isfinite(track.root).all(axis=1)
    if not known.any():
        return None
    points = held(track.points, known)
    root = held(track.root, known)
    offsets = skeleton.offsets(skeleton.bone_lengths(track.points[known]))
    local = skeleton.local_rotations(skeleton.global_rotations(points))
    angles = np.stack([skeleton.euler_zxy(local[joint.name]) for joint in skeleton.JOINTS], 1)
    return offsets, root, angles


def write_bvh(path: Path, track: WorldTrack, fps: float) -> bool:
    """Write the dancer's BVH; False (nothing written) if the dancer is never known."""
    found = motion(track)
    if found is None:
        return False
    offsets, root, angles = found
    lines = ["HIERARCHY"]

    def joint(name: str, depth: int) -> None:
        pad = "  " * depth
        kind = "ROOT" if depth == 0 else "JOINT"
        channels = (
            f"6 Xposition Yposition Zposition {_ROTATION}" if depth == 0 else "3 " + _ROTATION
        )
        lines.extend(
            [f"{pad}{kind} {name}", f"{pad}{{", f"{pad}  OFFSET {_xyz(offsets[name])}"]
            + [f"{pad}  CHANNELS {channels}"]
        )
        for child in skeleton.CHILDREN[name]:
            joint(child, depth + 1)
        if skeleton.BY_NAME[name].child is None and name != "Hips":
            end = offsets[f"{name}.end"]
            lines.extend(
                [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_xyz(end)}", f"{pad}  }}"]
            )
        lines.append(f"{pad}}}")

    joint("Hips", 0)
    lines += ["MOTION", f"Frames: {len(root)}", f"Frame Time: {1.0 / fps:.8f}"]
    # positions to the micrometre, angles to 1/10000 degree; + 0.0: no "-0.0000"
    values = np.hstack([np.round(root, 6), np.round(angles.reshape(len(angles), -1), 4)]) + 0.0
    row = " ".join(["%.6f"] * 3 + ["%.4f"] * (values.shape[1] - 3)) + "\n"
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
        out.writelines(row % tuple(frame) for frame in values.tolist())
    return True


def _xyz(values: np.ndarray) -> str:
    return " ".join(f"{round(float(v), 6) + 0.0:.6f}" for v in values)  # no "-0.000000"

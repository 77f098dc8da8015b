"""A made-up dancer whose motion is known exactly: 33 world landmarks (the exports' axes,
metres, hip-centred) for each frame, turning on the spot while the left arm swings round
and round in front of the body, and the two files' independent readers' views of them."""

from __future__ import annotations

import numpy as np
from bvh import Bvh
from scipy.spatial.transform import Rotation

# (x, y, z) of each landmark standing still, facing +z, left hand side on +x
REST = np.zeros((33, 3))
REST[0] = (0.0, 0.64, 0.10)  # nose
REST[1:4] = [(0.02, 0.67, 0.09), (0.035, 0.67, 0.085), (0.05, 0.67, 0.08)]  # left eye
REST[4:7] = [(-0.02, 0.67, 0.09), (-0.035, 0.67, 0.085), (-0.05, 0.67, 0.08)]  # right eye
REST[7], REST[8] = (0.08, 0.65, 0.0), (-0.08, 0.65, 0.0)  # ears
REST[9], REST[10] = (0.03, 0.60, 0.09), (-0.03, 0.60, 0.09)  # mouth
REST[11], REST[12] = (0.18, 0.50, 0.0), (-0.18, 0.50, 0.0)  # shoulders
REST[13], REST[14] = (0.46, 0.50, 0.0), (-0.18, 0.22, 0.0)  # elbows (the left one out)
REST[15], REST[16] = (0.72, 0.50, 0.0), (-0.18, -0.04, 0.0)  # wrists
REST[17], REST[18] = (0.80, 0.50, -0.02), (-0.20, -0.12, 0.0)  # pinkies
REST[19], REST[20] = (0.80, 0.50, 0.02), (-0.16, -0.12, 0.0)  # index fingers
REST[21], REST[22] = (0.76, 0.52, 0.03), (-0.15, -0.08, 0.02)  # thumbs
REST[23], REST[24] = (0.10, 0.0, 0.0), (-0.10, 0.0, 0.0)  # hips
REST[25], REST[26] = (0.10, -0.44, 0.02), (-0.10, -0.44, 0.02)  # knees
REST[27], REST[28] = (0.10, -0.86, 0.0), (-0.10, -0.86, 0.0)  # ankles
REST[29], REST[30] = (0.10, -0.92, -0.05), (-0.10, -0.92, -0.05)  # heels
REST[31], REST[32] = (0.10, -0.93, 0.14), (-0.10, -0.93, 0.14)  # toes
LEFT_ARM = [13, 15, 17, 19, 21]


def turning_dancer(frames: int = 240, *, turns: float = 1.0, arm_turns: float = 2.0):
    """(frames, 33, 3): the body turns `turns` times about the vertical, and the left arm
    swings `arm_turns` times round the shoulder in the body's frontal plane (up over the
    head and down again), past +-180 degrees each time."""
    points = np.empty((frames, 33, 3))
    for t in range(frames):
        arm = Rotation.from_euler("z", 360.0 * arm_turns * t / frames, degrees=True)
        body = REST.copy()
        body[LEFT_ARM] = REST[11] + arm.apply(REST[LEFT_ARM] - REST[11])
        yaw = Rotation.from_euler("y", 360.0 * turns * t / frames, degrees=True)
        points[t] = yaw.apply(body)
    return points


def forward_kinematics(motion: Bvh, frame: int) -> dict[str, np.ndarray]:
    """Each joint's and end site's (`<joint>.end`) position in one frame, from the file's
    offsets and channels alone (rotations composed by SciPy, in each joint's channel order)."""
    positions: dict[str, np.ndarray] = {}
    rotations: dict[str, np.ndarray] = {}
    for name in motion.get_joints_names():
        channels = motion.joint_channels(name)
        values = dict(
            zip(channels, motion.frame_joint_channels(frame, name, channels), strict=True)
        )
        order = "".join(c[0] for c in channels if c.endswith("rotation"))
        angles = [values[f"{axis}rotation"] for axis in order]
        rotation = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
        offset = np.array(motion.joint_offset(name), dtype=float)
        parent = motion.joint_parent(name)
        if parent is None:
            position = np.array([values[f"{a}position"] for a in "XYZ"]) + offset
            positions[name], rotations[name] = position, rotation
        else:
            positions[name] = positions[parent.name] + rotations[parent.name] @ offset
            rotations[name] = rotations[parent.name] @ rotation
        end = list(motion.get_joint(name).filter("End"))
        if end:
            end_offset = np.array([float(v) for v in end[0]["OFFSET"]])
            positions[f"{name}.end"] = positions[name] + rotations[name] @ end_offset
    return positions

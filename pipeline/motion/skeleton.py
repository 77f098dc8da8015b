"""A skeleton for the world landmarks and its joint rotations, frame by frame, as BVH wants
them: a hierarchy of joints, each with an offset from its parent in a rest pose and, per
frame, a rotation relative to its parent.

The hierarchy (hips root; spine, neck, head; clavicles, upper arms, forearms, hands; pelvis
halves, thighs, shins, feet), where each joint sits (`POINTS`: a BlazePose landmark or the
middle of two) and its rest pose: a T-pose facing +z, y up, the dancer's left on +x (the
axes of `pipeline.motion.world`). Bone lengths are the dancer's median over the clip,
so they are the same in every frame.

Rotations come from bone directions, so that each bone of the skeleton points where the
landmarks say it does (forward kinematics reproduces every bone's direction exactly, up to
the file's rounding):

- `FRAME` joints (hips, spine, neck, head) take a whole orientation from two directions: the
  bone's own and a line across the body for the twist (hip to hip, shoulder to shoulder,
  ear to ear), so the torso and head turn as the dancer does;
- the other joints swing their bone from its rest direction to the observed one by the
  shortest arc in their parent's frame, the twist reference being the parent itself: no
  twist is invented where the landmarks say nothing of it (upper arm, forearm, shin);
- zero-length joints (`LeftShoulder`, `LeftHipJoint` ...) let each branch of the hips and
  neck point on its own, as the CMU BVH files do, so no branch is a compromise.

Euler angles (BVH's `Zrotation Xrotation Yrotation`, R = Rz Rx Ry) are chosen frame by frame
as the one of the two equivalent solutions nearest the previous frame's, then unwrapped:
a joint turning past 180 degrees keeps counting instead of flipping to -180.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.smoothing import wrap

X, Y, Z = np.eye(3)

# joint -> the landmarks it sits on (averaged)
POINTS: dict[str, tuple[int, ...]] = {
    "Hips": (23, 24), "Spine": (23, 24), "Neck": (11, 12), "Head": (7, 8),
    "LeftShoulder": (11, 12), "LeftArm": (11,), "LeftForeArm": (13,), "LeftHand": (15,),
    "RightShoulder": (11, 12), "RightArm": (12,), "RightForeArm": (14,), "RightHand": (16,),
    "LeftHipJoint": (23, 24), "LeftUpLeg": (23,), "LeftLeg": (25,), "LeftFoot": (27,),
    "RightHipJoint": (23, 24), "RightUpLeg": (24,), "RightLeg": (26,), "RightFoot": (28,),
}  # fmt: skip
# a chain's last joint -> where its end site sits
END_SITES: dict[str, tuple[int, ...]] = {
    "Head": (0,),  # the nose
    "LeftHand": (17, 19), "RightHand": (18, 20),  # between the pinky and the index knuckles
    "LeftFoot": (31,), "RightFoot": (32,),  # the toes
}  # fmt: skip


@dataclass(frozen=True)
class Joint:
    name: str
    parent: str | None
    child: str | None  # the joint (or, if None, the end site) its bone points to
    rest: np.ndarray  # the bone's direction in the rest pose (unit); zero for no bone


# In hierarchy order (a parent before its children). `rest` is the direction from the joint
# to `child` in the T-pose; a zero-length joint's own offset is zero, its child's is not.
JOINTS: tuple[Joint, ...] = (
    Joint("Hips", None, None, Y),
    Joint("Spine", "Hips", "Neck", Y),
    Joint("Neck", "Spine", "Head", Y),
    Joint("Head", "Neck", None, Z),
    Joint("LeftShoulder", "Neck", "LeftArm", X),
    Joint("LeftArm", "LeftShoulder", "LeftForeArm", X),
    Joint("LeftForeArm", "LeftArm", "LeftHand", X),
    Joint("LeftHand", "LeftForeArm", None, X),
    Joint("RightShoulder", "Neck", "RightArm", -X),
    Joint("RightArm", "RightShoulder", "RightForeArm", -X),
    Joint("RightForeArm", "RightArm", "RightHand", -X),
    Joint("RightHand", "RightForeArm", None, -X),
    Joint("LeftHipJoint", "Hips", "LeftUpLeg", X),
    Joint("LeftUpLeg", "LeftHipJoint", "LeftLeg", -Y),
    Joint("LeftLeg", "LeftUpLeg", "LeftFoot", -Y),
    Joint("LeftFoot", "LeftLeg", None, Z),
    Joint("RightHipJoint", "Hips", "RightUpLeg", -X),
    Joint("RightUpLeg", "RightHipJoint", "RightLeg", -Y),
    Joint("RightLeg", "RightUpLeg", "RightFoot", -Y),
    Joint("RightFoot", "RightLeg", None, Z),
)
BY_NAME = {joint.name: joint for joint in JOINTS}
CHILDREN: dict[str, list[str]] = {
    joint.name: [j.name for j in JOINTS if j.parent == joint.name] for joint in JOINTS
}
# joints with a whole orientation: (the bone's rest axis, the twist line across the body:
# landmarks from -> to, which lies along +x in the rest pose)
FRAME: dict[str, tuple[int, tuple[int, int]]] = {
    "Hips": (1, (24, 23)),  # up; right hip -> left hip
    "Spine": (1, (12, 11)),  # up; right shoulder -> left shoulder
    "Neck": (1, (8, 7)),  # up; right ear -> left ear
    "Head": (2, (8, 7)),  # forward, to the nose; right ear -> left ear
}
ZERO_LENGTH = ("Spine", "LeftShoulder", "RightShoulder", "LeftHipJoint", "RightHipJoint")


def positions(points: np.ndarray) -> dict[str, np.ndarray]:
    """(T, 3) positions of every joint and end site (`<joint>.end`) from (T, 33, 3) points."""
    where = {name: points[:, list(ids)].mean(axis=1) for name, ids in POINTS.items()}
    where |= {f"{name}.end": points[:, list(ids)].mean(axis=1) for name, ids in END_SITES.items()}
    return where


def _target(joint: Joint) -> str:
    return joint.child if joint.child is not None else f"{joint.name}.end"


def bone_lengths(points: np.ndarray) -> dict[str, float]:
    """Each joint's bone (to its child or end site) as the median over the frames where it is
    known; 0 for the hips (no bone of its own)."""
    where = positions(points)
    lengths = {}
    for joint in JOINTS:
        if joint.name == "Hips":
            lengths[joint.name] = 0.0
            continue
        length = np.linalg.norm(where[_target(joint)] - where[joint.name], axis=1)
        known = np.isfinite(length)
        lengths[joint.name] = float(np.median(length[known])) if known.any() else 0.0
    return lengths


def offsets(lengths: dict[str, float]) -> dict[str, np.ndarray]:
    """Each joint's offset from its parent, and each end site's from its joint, in the rest
    pose: the parent's bone (rest direction, median length); zero for zero-length joints."""
    found: dict[str, np.ndarray] = {"Hips": np.zeros(3)}
    for joint in JOINTS[1:]:
        parent = BY_NAME[joint.parent or ""]
        own = joint.name in ZERO_LENGTH
        found[joint.name] = np.zeros(3) if own else parent.rest * lengths[parent.name]
        if joint.child is None:
            found[f"{joint.name}.end"] = joint.rest * lengths[joint.name]
    return found


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norm > 1e-9, norm, 1.0)


def _frame(primary: np.ndarray, axis: int, across: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations whose column `axis` is along `primary` and whose x column is
    `across` made perpendicular to it (the rest pose's axes mapped onto the body's)."""
    p = _unit(primary)
    x = _unit(across - (across * p).sum(axis=-1, keepdims=True) * p)
    columns: list[np.ndarray] = [x, x, x]
    columns[axis] = p
    third = 3 - axis  # the axis neither of them is (axis is 1 or 2)
    columns[third] = np.cross(columns[(third + 1) % 3], columns[(third + 2) % 3])
    return np.stack(columns, axis=-1)


def _swing(rest: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(T, 3, 3) shortest-arc rotations taking the unit vector `rest` onto each of the unit
    vectors `direction` (T, 3) (Rodrigues' formula)."""
    axis = np.cross(rest, direction)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.clip((direction * rest).sum(axis=-1), -1.0, 1.0)
    # opposite directions: any axis perpendicular to `rest` will do
    other = np.cross(rest, X if abs(rest[0]) < 0.9 else Y)
    axis = np.where((sin < 1e-9)[:, None] & (cos < 0)[:, None], other, axis)
    k = _unit(axis)
    angle = np.arctan2(sin, cos)
    cross = np.zeros((len(k), 3, 3))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    cross -= cross.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * cross + (1 - c) * cross @ cross


def global_rotations(points: np.ndarray) -> dict[str, np.ndarray]:
    """(T, 3, 3) rotation of every joint relative to the rest pose, in the world's axes, from
    (T, 33, 3) points without gaps."""
    where = positions(points)
    rotations: dict[str, np.ndarray] = {}
    for joint in JOINTS:
        if joint.name in FRAME:
            axis, (start, stop) = FRAME[joint.name]
            bone = (
                where["Neck"] - where["Hips"]
                if joint.name == "Hips"
                else where[_target(joint)] - where[joint.name]
            )
            across = points[:, stop] - points[:, start]
            rotations[joint.name] = _frame(bone, axis, across)
            continue
        parent = rotations[joint.parent or ""]
        direction = _unit(where[_target(joint)] - where[joint.name])
        local = np.einsum("tji,tj->ti", parent, direction)  # parent^T @ direction
        rotations[joint.name] = parent @ _swing(joint.rest, _unit(local))
    return rotations


def local_rotations(rotations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each joint's rotation relative to its parent (the root's is its global one)."""
    return {
        joint.name: rotations[joint.name]
        if joint.parent is None
        else rotations[joint.parent].transpose(0, 2, 1) @ rotations[joint.name]
        for joint in JOINTS
    }


def euler_zxy(matrices: np.ndarray) -> np.ndarray:
    """(T, 3) angles in degrees (z, x, y) with R = Rz(z) Rx(x) Ry(y), continuous over T."""
    x = np.arcsin(np.clip(matrices[:, 2, 1], -1.0, 1.0))
    z = np.arctan2(-matrices[:, 0, 1], matrices[:, 1, 1])
    y = np.arctan2(-matrices[:, 2, 0], matrices[:, 2, 2])
    first = np.degrees(np.stack([z, x, y], axis=-1))
    second = wrap(
        np.stack([first[:, 0] + 180, 180 - first[:, 1], first[:, 2] + 180], axis=-1), 360.0
    )
    # of the two solutions of each frame, the one nearer the last chosen (from zero), then
    # unwrapped: a joint turning past 180 degrees keeps counting. Plain floats: this loop
    # ran most of the BVH's time in numpy's per-call overhead.
    chosen, previous = [], (0.0, 0.0, 0.0)
    for one, other in zip(first.tolist(), second.tolist(), strict=True):
        if _turn(other, previous) < _turn(one, previous):
            one = other
        chosen.append(one)
        previous = one
    return np.unwrap(np.array(chosen, dtype=np.float64).reshape(-1, 3), period=360.0, axis=0)


def _turn(angles: list[float], previous: tuple[float, float, float] | list[float]) -> float:
    """The sum of the three angles' turns from `previous`, each the shorter way round."""
    (a, b, c), (p, q, r) = angles, previous
    return (
        abs((a - p + 180) % 360 - 180)
        + abs((b - q + 180) % 360 - 180)
        + abs((c - r + 180) % 360 - 180)
    )

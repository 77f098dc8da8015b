"""`motion.bvh` (`pipeline/motion/bvh.py`, `skeleton.py`): read back with an
independent parser (the `bvh` package), its joints' positions recomputed from its offsets and
rotations alone (forward kinematics with SciPy's rotations) and compared with the landmarks
it was made from."""

from __future__ import annotations

import numpy as np
import pytest
from bvh import Bvh

from pipeline.motion import skeleton
from pipeline.motion.bvh import write_bvh
from pipeline.motion.world import WorldTrack
from tests.pipeline.motion.bodies import forward_kinematics, turning_dancer

FPS = 30.0


def track(points: np.ndarray, root: np.ndarray | None = None) -> WorldTrack:
    frames = len(points)
    if root is None:  # walking 1.5 m to the right, hips 0.95 m above the floor
        root = np.column_stack(
            [np.linspace(0, 1.5, frames), np.full(frames, 0.95), np.zeros(frames)]
        )
    return WorldTrack(1, np.arange(frames) / FPS, points, np.full((frames, 33), 0.9), root)


def bone_errors_cm(motion: Bvh, points: np.ndarray) -> np.ndarray:
    """Per bone and frame: how far the bone's far end lies from where it would be laid along
    the landmarks' direction at the file's length (the direction error as a distance, cm)."""
    where = skeleton.positions(points)
    errors = []
    for t in range(motion.nframes):
        placed = forward_kinematics(motion, t)
        for joint in skeleton.JOINTS:
            target = joint.child or f"{joint.name}.end"
            if joint.name == "Hips":
                continue
            bone = placed[target] - placed[joint.name]
            length = np.linalg.norm(bone)
            if length < 1e-9:
                continue
            observed = where[target][t] - where[joint.name][t]
            errors.append(np.linalg.norm(bone - observed / np.linalg.norm(observed) * length))
    return np.array(errors) * 100


@pytest.fixture(scope="module")
def turning(tmp_path_factory):
    points = turning_dancer()
    made = track(points)
    path = tmp_path_factory.mktemp("bvh") / "motion.bvh"
    assert write_bvh(path, made, FPS)
    return made, Bvh(path.read_text())


def test_the_file_has_the_hierarchy_frames_and_rate(turning):
    made, motion = turning
    assert motion.nframes == len(made.points)
    assert motion.frame_time == pytest.approx(1 / FPS)
    assert motion.get_joints_names() == [joint.name for joint in skeleton.JOINTS]
    assert motion.joint_channels("Hips") == [
        "Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation",
    ]  # fmt: skip
    assert motion.joint_channels("LeftForeArm") == ["Zrotation", "Xrotation", "Yrotation"]
    for name, parent in (("Spine", "Hips"), ("LeftForeArm", "LeftArm"), ("RightFoot", "RightLeg")):
        assert motion.joint_parent(name).name == parent


def test_forward_kinematics_reproduces_every_bone_of_the_landmarks(turning):
    """The body turns once and the left arm goes round twice, past +-180 degrees: every
    bone still points where the landmarks say (well under the issue's 2 cm)."""
    made, motion = turning
    errors = bone_errors_cm(motion, made.points)
    assert np.median(errors) < 0.01 and errors.max() < 0.1, (np.median(errors), errors.max())


def test_every_joint_is_where_its_landmarks_are_when_bones_keep_their_length(turning):
    """The made-up dancer's bones never change length, so forward kinematics puts every
    joint and end site on its landmarks, carried across the floor by the root."""
    made, motion = turning
    where = skeleton.positions(made.points)
    for t in (0, 100, 239):
        placed = forward_kinematics(motion, t)
        for name, position in placed.items():
            expected = where[name][t] - where["Hips"][t] + made.root[t]
            assert position == pytest.approx(expected, abs=1e-4), (t, name)


def test_bones_keep_their_length_in_every_frame(turning):
    _, motion = turning
    lengths = []
    for t in range(0, motion.nframes, 10):
        placed = forward_kinematics(motion, t)
        lengths.append(
            [np.linalg.norm(placed["LeftForeArm"] - placed["LeftArm"]),
             np.linalg.norm(placed["LeftLeg"] - placed["LeftUpLeg"])]
        )  # fmt: skip
    assert np.ptp(np.array(lengths), axis=0) == pytest.approx([0, 0], abs=1e-6)


def test_bone_lengths_are_the_dancers_median(tmp_path):
    """A forearm measured 0.26 m in most frames and 0.40 m in a few (a bad frame of the
    model) is 0.26 m in the skeleton."""
    points = turning_dancer(60, turns=0, arm_turns=0)
    points[:10, 15] = points[:10, 13] + (points[:10, 15] - points[:10, 13]) * 0.40 / 0.26
    motion = Bvh(_written(tmp_path, track(points)))
    assert np.linalg.norm(motion.joint_offset("LeftHand")) == pytest.approx(0.26, abs=1e-4)


def test_no_channel_jumps_when_a_joint_turns_past_180_degrees(turning):
    """Each rotation channel changes smoothly from frame to frame (the arm turns 6 degrees
    a frame): no jump of 360 (or a flip to the other Euler solution) anywhere."""
    _, motion = turning
    values = np.array([[float(v) for v in frame] for frame in motion.frames])
    steps = np.abs(np.diff(values[:, 3:], axis=0))
    assert steps.max() < 20, steps.max()


def test_a_dancer_never_found_writes_no_file_and_one_found_late_holds_the_first_pose(tmp_path):
    points = turning_dancer(30, turns=0, arm_turns=0.5)
    unknown = track(np.full_like(points, np.nan))
    assert not write_bvh(tmp_path / "none.bvh", unknown, FPS)
    assert not (tmp_path / "none.bvh").exists()
    late = points.copy()
    late[:10] = np.nan  # found from frame 10: frames 0..9 hold frame 10's pose
    motion = Bvh(_written(tmp_path, track(late)))
    assert motion.nframes == 30
    assert motion.frames[0] == motion.frames[9] == motion.frames[10] != motion.frames[11]


def _written(tmp_path, made: WorldTrack) -> str:
    path = tmp_path / "motion.bvh"
    assert write_bvh(path, made, FPS)
    return path.read_text()

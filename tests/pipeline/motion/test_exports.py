"""The motion exports of whole runs (`analyze_video`): on a generated clip of a real person,
on the shared street footage, with several dancers and with nobody. Each file is read back
with an independent reader (`bvh`, `trc-data-reader`, `csv`); the BVH's joints, recomputed
from its own offsets and rotations (forward kinematics), are compared with the smoothed
world landmarks in keypoints.json."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from bvh import Bvh
from trc import TRCData

from pipeline.motion import skeleton
from pipeline.motion.world_csv import COLUMNS
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.samples import DUO
from tests.clips import STREET_VIDEO, make_clip, probe, shared_file
from tests.pipeline.motion.bodies import forward_kinematics

MOTION = {"motion.bvh", "markers.trc", "world_landmarks.csv"}


def world_landmarks(keypoints: dict, person: int | None = None) -> np.ndarray:
    """(frames, 33, 3) of keypoints.json's world landmarks, NaN where null."""
    found = np.full((len(keypoints["frames"]), 33, 3), np.nan)
    for i, frame in enumerate(keypoints["frames"]):
        points = (
            frame.get("world_landmarks")
            if person is None
            else next((p["world_landmarks"] for p in frame["people"] if p["id"] == person), None)
        )
        if points:
            found[i] = [[p["x"], p["y"], p["z"]] for p in points]
    return found


def bone_direction_errors_cm(motion: Bvh, points: np.ndarray) -> np.ndarray:
    """Each bone in each frame with landmarks: the distance between the bone's far end as the
    file puts it and as the landmarks' direction would at the bone's length (cm)."""
    where = skeleton.positions(points)
    errors = []
    for t in np.flatnonzero(np.isfinite(points).all(axis=(1, 2))):
        placed = forward_kinematics(motion, int(t))
        for joint in skeleton.JOINTS[1:]:
            target = joint.child or f"{joint.name}.end"
            bone = placed[target] - placed[joint.name]
            length = np.linalg.norm(bone)
            observed = where[target][t] - where[joint.name][t]
            if length > 1e-9:
                errors.append(np.linalg.norm(bone - observed / np.linalg.norm(observed) * length))
    return np.array(errors) * 100


def check_bvh(folder, keypoints: dict, frames: int, fps: float, name: str = "motion.bvh"):
    motion = Bvh((folder / name).read_text())
    assert motion.nframes == frames
    assert motion.frame_time == pytest.approx(1 / fps, rel=1e-6)
    person = None if name == "motion.bvh" else int(name.split("person")[1].split(".")[0])
    errors = bone_direction_errors_cm(motion, world_landmarks(keypoints, person))
    assert np.median(errors) < 2.0, np.median(errors)  # the bar; measured ~0.001
    return motion, errors


def check_trc(path, frames: int, fps: float) -> TRCData:
    data = TRCData()
    data.load(str(path))
    assert data["NumFrames"] == len(data["Frame#"]) == frames
    assert data["DataRate"] == pytest.approx(fps) and data["Units"] == "m"
    assert len(data["Markers"]) == data["NumMarkers"] == 33
    return data


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    folder = tmp_path_factory.mktemp("motion-astronaut")
    clip = make_clip(folder / "in.mp4", person="astronaut", frames=45, fps=15)
    result = analyze_video(clip, folder / "out")
    return result, json.loads(result.keypoints_path.read_text())


def test_a_run_writes_the_three_motion_files_and_says_so(astronaut):
    result, _ = astronaut
    assert {p.name for p in result.export_paths()} == MOTION
    assert {p.name for p in result.out_dir.iterdir()} >= MOTION
    assert [(f.name, f.format, f.person) for f in result.exports.files] == [
        ("motion.bvh", "bvh", 1),
        ("markers.trc", "trc", 1),
        ("world_landmarks.csv", "csv", None),
    ]
    assert result.exports.note is None


def test_keypoints_json_holds_the_smoothed_world_landmarks(astronaut):
    _, keypoints = astronaut
    assert keypoints["schema_version"] == 3
    assert keypoints["world_landmarks"]["units"] == "m"
    assert "y: up" in keypoints["world_landmarks"]["axes"]
    assert "Butterworth" in keypoints["world_landmarks"]["smoothing"]
    world = world_landmarks(keypoints)
    detected = np.array([frame["detected"] for frame in keypoints["frames"]])
    assert np.isfinite(world[detected]).all() and np.isnan(world[~detected]).all()
    hips = world[detected][:, [23, 24]].mean(axis=1)
    assert np.abs(hips).max() < 0.02  # centred between the hips
    nose_above_hips = world[detected][:, 0, 1] > 0.3
    assert nose_above_hips.all()


def test_the_bvh_follows_the_landmarks_with_constant_bones(astronaut):
    result, keypoints = astronaut
    motion, errors = check_bvh(result.out_dir, keypoints, 45, 15.0)
    assert np.percentile(errors, 95) < 2.0
    lengths = [
        np.linalg.norm(placed["LeftLeg"] - placed["LeftUpLeg"])
        for placed in (forward_kinematics(motion, t) for t in range(0, 45, 5))
    ]
    assert np.ptp(lengths) < 1e-5


def test_the_trc_and_csv_read_back(astronaut):
    result, keypoints = astronaut
    data = check_trc(result.out_dir / "markers.trc", 45, 15.0)
    assert data["Time"][0] == pytest.approx(keypoints["frames"][0]["time_s"], abs=1e-4)
    with open(result.out_dir / "world_landmarks.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS)
    frames = {int(row["frame"]) for row in rows}
    assert len(rows) == 33 * len(frames) and len(frames) >= 40
    world = world_landmarks(keypoints)
    first = rows[0]
    assert [float(first[k]) for k in "xyz"] == pytest.approx(world[0, 0], abs=1e-4)


def test_exports_can_be_chosen_or_left_out(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=8)
    some = analyze_video(clip, tmp_path / "some", PipelineOptions(exports=("trc",)))
    assert [p.name for p in some.export_paths()] == ["markers.trc"]
    none = analyze_video(clip, tmp_path / "none", PipelineOptions(exports=()))
    assert none.export_paths() == () and not MOTION & {p.name for p in none.out_dir.iterdir()}


def test_nobody_in_the_video_gives_a_note_and_an_empty_csv(tmp_path):
    clip = make_clip(tmp_path / "empty.mp4", person=None, frames=10)
    result = analyze_video(clip, tmp_path / "out")
    assert [f.name for f in result.exports.files] == ["world_landmarks.csv"]
    assert "no dancer was found" in (result.exports.note or "")
    assert (result.out_dir / "world_landmarks.csv").read_text().strip() == ",".join(COLUMNS)
    assert not (result.out_dir / "motion.bvh").exists()


def test_several_dancers_get_a_bvh_and_a_trc_each(tmp_path):
    from pipeline.video.samples import make_clip as sample_clip

    clip = sample_clip(tmp_path / "duo.mp4", person=DUO, width=640, height=240, frames=30)
    result = analyze_video(clip, tmp_path / "out", PipelineOptions(max_people=2, analysis=None))
    names = {p.name for p in result.export_paths()}
    assert names == {
        "motion_person1.bvh", "motion_person2.bvh", "markers_person1.trc",
        "markers_person2.trc", "world_landmarks.csv",
    }  # fmt: skip
    keypoints = json.loads(result.keypoints_path.read_text())
    assert keypoints["schema_version"] == 4
    for person in (1, 2):
        check_bvh(result.out_dir, keypoints, 30, 15.0, f"motion_person{person}.bvh")
        check_trc(result.out_dir / f"markers_person{person}.trc", 30, 15.0)
    with open(result.out_dir / "world_landmarks.csv", newline="") as fh:
        assert {row["person"] for row in csv.DictReader(fh)} == {"1", "2"}


@pytest.mark.shared_data
def test_the_street_footage_exports_one_frame_per_video_frame(tmp_path):
    """The shared street scene (205 frames at 50 fps, people walking): every file parses and
    has the video's frames and rate, and the BVH reproduces the landmarks' bones."""
    video = shared_file(STREET_VIDEO)
    result = analyze_video(video, tmp_path / "out", PipelineOptions(analysis=None))
    frames, fps = probe(video)["frames"], result.metrics["fps"]
    keypoints = json.loads(result.keypoints_path.read_text())
    assert len(keypoints["frames"]) == frames == 205
    _, errors = check_bvh(result.out_dir, keypoints, frames, fps)
    print(f"street: bone direction error median {np.median(errors):.4f} cm, max {errors.max():.3f}")
    data = check_trc(result.out_dir / "markers.trc", frames, fps)
    detected = sum(frame["detected"] for frame in keypoints["frames"])
    assert sum(np.isfinite(x) for x, _, _ in data["nose"]) >= detected

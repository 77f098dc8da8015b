"""`markers.trc` read back with an independent reader (the `trc-data-reader` package) and
checked against the conventions of Pose2Sim's writer (which Sports2D uses); the world
landmarks' CSV read back with the standard library; the world landmarks' smoothing."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from trc import TRCData

from pipeline.motion.trc import markers, write_trc
from pipeline.motion.world import WorldTrack, to_export_axes, world_track
from pipeline.motion.world_csv import COLUMNS, write_world_csv
from pipeline.pose.blazepose import LANDMARK_NAMES
from tests.pipeline.motion.bodies import turning_dancer

FPS = 25.0


def made_up(frames: int = 50) -> WorldTrack:
    points = turning_dancer(frames, turns=0.25, arm_turns=0.5)
    root = np.column_stack([np.linspace(0, 1, frames), np.full(frames, 0.95), np.zeros(frames)])
    points[20:23] = np.nan  # the dancer unknown for three frames
    visibility = np.full((frames, 33), 0.8)
    return WorldTrack(2, np.arange(frames) / FPS, points, visibility, root)


@pytest.fixture(scope="module")
def trc(tmp_path_factory):
    made = made_up()
    path = tmp_path_factory.mktemp("trc") / "markers.trc"
    write_trc(path, made, FPS)
    data = TRCData()
    data.load(str(path))
    return made, path, data


def test_the_header_follows_pose2sims_conventions(trc):
    """Pose2Sim's make_trc: `PathFileType 4 (X/Y/Z) <file>`; DataRate, CameraRate,
    NumFrames, NumMarkers, Units (m), OrigDataRate, OrigDataStartFrame, OrigNumFrames;
    `Frame# Time` and the marker names; X1 Y1 Z1 ...; Frame# from 1."""
    made, path, data = trc
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["PathFileType", "4", "(X/Y/Z)", "markers.trc"]
    assert lines[1].split("\t") == [
        "DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
        "OrigDataStartFrame", "OrigNumFrames",
    ]  # fmt: skip
    assert lines[2].split("\t") == ["25", "25", "50", "33", "m", "25", "1", "50"]
    assert lines[3].split("\t")[:5] == ["Frame#", "Time", "nose", "", ""]
    assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"]
    assert data["DataRate"] == data["CameraRate"] == FPS and data["Units"] == "m"
    assert data["NumFrames"] == len(data["Frame#"]) == 50
    assert data["Markers"] == list(LANDMARK_NAMES)
    assert data["Frame#"] == list(range(1, 51))
    assert data["Time"] == pytest.approx(made.times, abs=1e-5)


def test_markers_are_opensims_axes_and_unknown_frames_are_empty(trc):
    made, _, data = trc
    expected = markers(made)
    for name in ("nose", "left_wrist", "right_ankle"):
        index = LANDMARK_NAMES.index(name)
        read = np.array(data[name], dtype=float)
        assert read[:20] == pytest.approx(expected[:20, index], abs=1e-5)
        assert np.isnan(read[20:23]).all()  # empty fields where the dancer is unknown
    # OpenSim: X forward (toward the camera), Y up, Z to the dancer's right (the image's left)
    nose, right_hand = expected[0, 0], expected[0, LANDMARK_NAMES.index("right_wrist")]
    hips = expected[0, [23, 24]].mean(axis=0)
    assert nose[0] > hips[0] and nose[1] > hips[1]  # in front, above
    assert right_hand[2] > hips[2]  # to the right


def test_the_csv_has_a_row_per_frame_dancer_and_landmark(tmp_path):
    made = made_up(10)
    other = WorldTrack(5, made.times, made.points + 1.0, made.visibility, made.root)
    path = tmp_path / "world_landmarks.csv"
    write_world_csv(path, np.arange(100, 110), [made, other])
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 10 * 2 * 33
    first = rows[0]
    assert (first["frame"], first["person"], first["landmark"]) == ("100", "2", "nose")
    assert [float(first[k]) for k in "xyz"] == pytest.approx(made.points[0, 0], abs=1e-5)
    assert {row["person"] for row in rows} == {"2", "5"}


def test_world_landmarks_are_smoothed_short_gaps_filled_long_ones_left_empty():
    """Noisy BlazePose world landmarks (BlazePose's axes: y down, z away), a 6-frame gap and
    a 30-frame one: the smoothed series is steadier than the raw one, the short gap is
    filled and the long one stays empty, and the axes are turned (y up, z toward)."""
    frames, fps = 120, 30.0
    rng = np.random.default_rng(7)
    truth = turning_dancer(frames, turns=0.1, arm_turns=0.2)
    blazepose = truth * [1, -1, -1] + rng.normal(0, 0.01, truth.shape)
    world = [to_export_axes(np.column_stack([p, np.ones(33)])) for p in blazepose]
    image = [np.column_stack([0.5 + p[:, :2] * [0.2, -0.2], p[:, 2], np.ones(33)]) for p in truth]
    for gap in (range(30, 36), range(60, 90)):
        for t in gap:
            world[t] = image[t] = None
    made = world_track(1, np.arange(frames) / fps, image, world, width=640, height=480, fps=fps)
    known = made.known
    assert known[30:36].all() and not known[60:90].any() and known[:30].all()
    raw_error = np.abs(np.array([w for w in world[:30]]) - truth[:30]).mean()
    smooth_error = np.abs(made.points[:30] - truth[:30]).mean()
    assert smooth_error < 0.7 * raw_error, (smooth_error, raw_error)
    assert made.points[0, 0, 1] > 0.5  # the nose is up
    assert np.isfinite(made.root[:30]).all() and np.isnan(made.root[60:90]).all()
    assert made.root[0, 1] == pytest.approx(0.93, abs=0.03)  # the hips' height above the toes

"""The pipeline with several dancers (`max_people` > 1): two dancers side by side, each found,
each keeping its id on its own side; keypoints version 2, metrics and analysis per dancer, an
overlay with a colour and an id label per dancer; and a single dancer still gets version 1."""

from __future__ import annotations

import csv
import json

import av
import numpy as np
import pytest

from pipeline.analysis.performance import Performance
from pipeline.pose.keypoints import KeypointsWriter
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.overlay import person_colour
from pipeline.video.samples import DUO
from tests.clips import make_clip, probe

FRAMES = 60
TORSO = [11, 12, 23, 24]


@pytest.fixture(scope="module")
def duo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("duo")
    clip = make_clip(
        folder / "duo.mp4",
        person=DUO,
        width=640,
        height=240,
        frames=FRAMES,
        fps=15,
        audio=True,
        beat_bpm=120,
    )
    return clip, analyze_video(clip, folder / "out", PipelineOptions(max_people=4))


@pytest.fixture(scope="module")
def keypoints(duo_run):
    return json.loads(duo_run[1].keypoints_path.read_text())


def test_keypoints_version_4_holds_each_dancer_per_frame(keypoints):
    assert keypoints["schema_version"] == 4
    assert keypoints["video"]["max_people"] == 4
    assert keypoints["frame_count"] == FRAMES == len(keypoints["frames"])
    seen: set[int] = set()
    for frame in keypoints["frames"]:
        assert "landmarks" not in frame
        assert frame["detected"] is bool(frame["people"])
        ids = [person["id"] for person in frame["people"]]
        assert ids == sorted(ids)
        assert frame["out_of_view"] == sorted(seen - set(ids))
        seen |= set(ids)
        for person in frame["people"]:
            assert set(person) == {
                "id",
                "visibility",
                "landmarks",
                "smoothed_landmarks",
                "world_landmarks",
            }
            assert len(person["landmarks"]) == len(person["world_landmarks"]) == 33
            visibility = np.mean([p["visibility"] for p in person["landmarks"]])
            assert person["visibility"] == pytest.approx(visibility, abs=1e-3)


def test_keypoints_version_4_says_who_is_out_of_view(tmp_path):
    """A dancer seen before and not found now is listed, with no pose made up for them."""
    pose = np.full((33, 4), 0.5, np.float32)
    writer = KeypointsWriter(tmp_path / "k.json", {"width": 64, "height": 64}, people=True)
    writer.add_people(0, 0.0, [(1, pose)])
    writer.add_people(1, 0.1, [(1, pose), (2, pose)])
    writer.add_people(2, 0.2, [(2, pose)])
    writer.add_people(3, 0.3, [])
    writer.close()
    frames = json.loads((tmp_path / "k.json").read_text())["frames"]
    assert [frame["out_of_view"] for frame in frames] == [[], [], [1], [1, 2]]
    assert [[p["id"] for p in frame["people"]] for frame in frames] == [[1], [1, 2], [2], []]


def test_both_dancers_are_found_and_each_id_stays_on_its_own_side(keypoints):
    both = sum(len(frame["people"]) == 2 for frame in keypoints["frames"])
    assert both >= 0.9 * FRAMES  # measured: 60 of 60
    assert all(len(frame["people"]) <= 2 for frame in keypoints["frames"])
    sides: dict[int, set[str]] = {}
    for frame in keypoints["frames"]:
        for person in frame["people"]:
            x = np.mean([person["landmarks"][i]["x"] for i in TORSO])
            sides.setdefault(person["id"], set()).add("left" if x < 0.5 else "right")
    assert sides == {1: {"left"}, 2: {"right"}}


def test_metrics_describe_each_dancer(duo_run, keypoints):
    metrics = duo_run[1].metrics
    found = {1: 0, 2: 0}
    for frame in keypoints["frames"]:
        for person in frame["people"]:
            found[person["id"]] += 1
    assert metrics["people_found"] == 2 and metrics["max_people_in_frame"] == 2
    assert metrics["detected_frames"] == sum(bool(f["people"]) for f in keypoints["frames"])
    assert metrics["mean_people_per_frame"] == pytest.approx(sum(found.values()) / FRAMES, 1e-3)
    assert [p["id"] for p in metrics["people"]] == [1, 2]
    for person in metrics["people"]:
        assert person["detected_frames"] == found[person["id"]]
        assert person["detection_rate"] == pytest.approx(found[person["id"]] / FRAMES, 1e-3)
        assert person["movement"]["mean_speed_body_heights_per_s"] > 0
        assert 0 <= person["first_seen_s"] <= person["last_seen_s"] <= 4.0
    main = max(found, key=lambda i: (found[i], -i))
    assert metrics["main_person_id"] == main
    assert metrics["movement"] == metrics["people"][main - 1]["movement"]
    summary = json.loads(duo_run[1].summary_path.read_text())
    assert summary["people"] == metrics["people"]


def test_analysis_describes_each_dancer_and_the_main_one_as_version_1(duo_run):
    result = duo_run[1]
    document = json.loads(result.analysis_path.read_text())
    assert document["schema_version"] == 2
    assert [p["id"] for p in document["people"]] == [1, 2]
    main = next(p for p in document["people"] if p["id"] == document["main_person_id"])
    for key in ("video", "angles", "symmetry", "movement", "music", "per_frame"):
        assert document[key] == main[key]  # version 1 readers read the main dancer
    for person in document["people"]:
        assert person["music"]["tempo_bpm"] == pytest.approx(120, rel=0.02)
        assert len(person["per_frame"]["time_s"]) == FRAMES
        assert person["angles"]["summary"]["right_elbow"]["range_of_motion"] is not None
    # the two dancers are different people: their angles differ
    one, two = (p["angles"]["summary"]["right_elbow"]["mean"] for p in document["people"])
    assert one != two
    short = result.analysis
    assert short["main_person_id"] == document["main_person_id"]
    assert [p["id"] for p in short["people"]] == [1, 2]
    assert set(short["people"][0]) == {
        "id",
        *(k for k in short if k not in ("people", "main_person_id", "group")),
    }
    # the two, compared as a group (pipeline.analysis.group); the score also in summary.json
    group = document["group"]
    assert [pair["dancers"] for pair in group["pairs"]] == [[1, 2]]
    assert [dancer["id"] for dancer in group["dancers"]] == [1, 2]
    assert short["group"] == {"score": group["score"], "leader": group["leader"]}
    assert result.metrics.get("group_sync_score") == group["score"]


def test_angles_csv_has_a_person_column(duo_run, keypoints):
    with open(duo_run[1].angles_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:3] == ["person", "frame", "time_s"]
    people = sorted({row["person"] for row in rows})
    assert people == ["1", "2"]
    for person_id in (1, 2):
        frames = [int(row["frame"]) for row in rows if row["person"] == str(person_id)]
        seen = [
            f["frame"] for f in keypoints["frames"] if person_id in [p["id"] for p in f["people"]]
        ]
        assert frames == list(range(seen[0], seen[-1] + 1))


def test_keypoints_version_2_reads_back_for_one_dancer(duo_run, keypoints):
    path = duo_run[1].keypoints_path
    main = Performance.from_keypoints(path)
    second = Performance.from_keypoints(path, person=2)
    assert main.landmarks.shape == second.landmarks.shape == (FRAMES, 33, 4)
    first = keypoints["frames"][0]
    right = next(p for p in first["people"] if p["id"] == 2)
    assert second.landmarks[0, 0, 0] == pytest.approx(right["landmarks"][0]["x"])
    assert float(np.nanmean(main.landmarks[:, TORSO, 0])) < 0.5  # the main one is #1, left


def test_the_overlay_draws_each_dancer_in_its_colour(duo_run, keypoints):
    clip, result = duo_run
    assert probe(result.video_path)["frames"] == FRAMES
    with av.open(str(result.video_path)) as container:
        frame = next(
            f.to_ndarray(format="rgb24")
            for i, f in enumerate(container.decode(video=0))
            if i == FRAMES // 2
        )
    people = keypoints["frames"][FRAMES // 2]["people"]
    for person in people:
        colour = np.array(person_colour(person["id"]))
        x = np.mean([person["landmarks"][i]["x"] for i in TORSO]) * 640
        half = frame[:, :320] if x < 320 else frame[:, 320:]
        close = np.abs(half.astype(int) - colour).sum(axis=2) < 60
        assert close.sum() > 200, (person["id"], int(close.sum()))


def test_one_dancer_keeps_the_one_dancer_layout(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=6, fps=15)
    result = analyze_video(clip, tmp_path / "out", PipelineOptions(max_people=1))
    document = json.loads(result.keypoints_path.read_text())
    assert document["schema_version"] == 3
    assert "max_people" not in document["video"]
    assert "people" not in result.metrics
    assert json.loads(result.analysis_path.read_text())["schema_version"] == 1

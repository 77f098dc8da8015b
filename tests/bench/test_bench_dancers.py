"""The real-footage tracking benchmark's scoring (`bench/bench_dancers.py`) on cases worked out
by hand: ids kept, ids swapped, an id carried from one dancer to the other, a bystander in an
ignore region, a dancer missed."""

from __future__ import annotations

import pytest

from bench.bench_dancers import score_clip, total
from bench.dancer_labels import Label

LEFT = (0.0, 0.0, 100.0, 200.0)  # left, top, width, height
RIGHT = (200.0, 0.0, 100.0, 200.0)
AWAY = (400.0, 0.0, 100.0, 200.0)


def labels(frames: int, ignore: bool = False) -> dict[int, list[Label]]:
    out = {}
    for frame in range(1, frames + 1):
        out[frame] = [Label(1, LEFT, 1.0, 1.0), Label(2, RIGHT, 1.0, 1.0)]
        if ignore:
            out[frame].append(Label(91, AWAY, 0.0, 1.0))
    return out


def test_ids_kept_from_start_to_end_score_perfectly():
    poses = {f: [(7, (50.0, 100.0)), (8, (250.0, 100.0))] for f in range(1, 21)}
    scores = score_clip(labels(20), poses)
    assert scores["idf1"] == pytest.approx(1.0) and scores["mota"] == pytest.approx(1.0)
    assert (scores["switches"], scores["ids"], scores["carried"]) == (0, 2, [])
    assert scores["ids_per_dancer"] == {1: {7: 20}, 2: {8: 20}}


def test_ids_that_swap_dancers_halfway_are_carried_and_switch():
    poses = {
        f: [(7, (50.0, 100.0)), (8, (250.0, 100.0))]
        if f <= 10
        else [(8, (50.0, 100.0)), (7, (250.0, 100.0))]
        for f in range(1, 21)
    }
    scores = score_clip(labels(20), poses)
    assert scores["switches"] == 2
    assert scores["carried"] == [7, 8]
    assert scores["idf1"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1.0)


def test_a_bystander_in_an_ignore_region_is_no_false_positive_but_elsewhere_is():
    poses = {f: [(1, (50.0, 100.0)), (2, (250.0, 100.0)), (3, (450.0, 100.0))] for f in (1, 2)}
    assert score_clip(labels(2, ignore=True), poses)["precision"] == pytest.approx(1.0)
    assert score_clip(labels(2), poses)["precision"] == pytest.approx(2 / 3)


def test_a_missed_dancer_and_a_pose_outside_every_box():
    poses = {f: [(1, (50.0, 100.0)), (2, (150.0, 100.0))] for f in range(1, 5)}
    scores = score_clip(labels(4), poses)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["ids_per_dancer"] == {1: {1: 4}}


def test_the_total_pools_the_clips():
    kept = {f: [(7, (50.0, 100.0)), (8, (250.0, 100.0))] for f in range(1, 11)}
    half = {f: [(1, (50.0, 100.0))] for f in range(1, 11)}
    clips = []
    for name, poses in (("a", kept), ("b", half)):
        scores = score_clip(labels(10), poses) | {"clip": name, "labelled_frames": 10}
        clips.append(scores | {"fps": 10.0, "frames": 100})
    pooled = total(clips, "both")
    assert pooled["recall"] == pytest.approx(0.75)  # 20 + 10 of the 40 dancer boxes
    assert pooled["labelled_frames"] == 20 and pooled["ids"] == 3
    assert pooled["fps"] == pytest.approx(10.0)

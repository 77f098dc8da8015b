"""Group synchronisation (`pipeline.analysis.group`) on synthetic dancers whose answer is known
(`bench/synthetic_dancers.py`): a copy of a dancer 0.2 s behind comes out 0.2 s behind, the
one ahead leads, different dances score low."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic_dancers import FPS, body, frame_times, mirrored, performance, trajectories
from pipeline.analysis.group import group_sync

SECONDS = 12.0


def dancer(seed: int = 1, delay_s: float = 0.0, centre=(400.0, 330.0)):
    """A dancer on the video's clock; `delay_s`: the same dance that much later (no pose
    before it starts)."""
    times = frame_times(SECONDS)
    pts = body(trajectories(times - delay_s, seed))
    pts[times < delay_s] = np.nan
    return performance(times, pts, centre=centre)


def test_a_copy_shifted_by_02_s_comes_out_02_s_behind_within_a_frame():
    group = group_sync({1: dancer(), 2: dancer(delay_s=0.2, centre=(900.0, 330.0))})
    [pair] = group["pairs"]
    assert pair["dancers"] == [1, 2]
    assert abs(pair["offset_ms"] - 200) <= 1000 / FPS
    assert pair["behind"] == 2 and group["leader"] == 1
    assert pair["pose"] >= 95 and pair["mirrored"] is False
    assert pair["timing"] < 80  # 0.2 s out is out of step
    by_id = {d["id"]: d for d in group["dancers"]}
    assert by_id[2]["offset_ms"] == pair["offset_ms"] == -by_id[1]["offset_ms"]
    assert all(abs(w["offset_ms"] - 200) <= 1000 / FPS for w in pair["segments"][1:-1])
    assert group["least_in_unison"] and "dancers 1 and 2" in group["least_in_unison"][0]["text"]


def test_dancers_in_step_score_high_and_no_leader_is_made_up():
    group = group_sync({1: dancer(), 2: dancer(centre=(900.0, 330.0))})
    [pair] = group["pairs"]
    assert pair["offset_ms"] == 0 and pair["behind"] is None
    assert group["score"] >= 95 and group["leader"] is None


def test_a_dancer_facing_the_other_way_is_compared_mirrored():
    group = group_sync({1: dancer(), 2: mirrored(dancer(centre=(900.0, 330.0)))})
    [pair] = group["pairs"]
    assert pair["mirrored"] is True and pair["score"] >= 90


def test_different_dances_score_low():
    group = group_sync({1: dancer(seed=1), 2: dancer(seed=7, centre=(900.0, 330.0))})
    assert group["score"] is None or group["score"] < 50


def test_three_dancers_the_leader_and_each_dancers_lag():
    group = group_sync(
        {
            1: dancer(delay_s=0.1, centre=(300.0, 330.0)),
            2: dancer(delay_s=0.0, centre=(640.0, 330.0)),
            3: dancer(delay_s=0.3, centre=(980.0, 330.0)),
        }
    )
    assert group["leader"] == 2
    offsets = {d["id"]: d["offset_ms"] for d in group["dancers"]}
    assert offsets[2] < offsets[1] < offsets[3]
    assert len(group["pairs"]) == 3
    pair = next(p for p in group["pairs"] if p["dancers"] == [1, 3])
    assert pair["offset_ms"] == pytest.approx(200, abs=1000 / FPS)


def test_one_dancer_has_no_group_and_a_pair_without_poses_says_why():
    assert group_sync({1: dancer()}) is None
    empty = dancer()
    empty.landmarks[:] = np.nan
    group = group_sync({1: dancer(), 2: empty})
    assert group["pairs"][0]["error"]["code"] == "too_little_pose"
    assert group["score"] is None and group["leader"] is None

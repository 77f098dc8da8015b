"""Group synchronisation on real footage, through the whole pipeline with two dancers: the girl
of the shared `pair_phone.mp4` beside a copy of herself 0.2 s later must come out 0.2 s
behind within one frame; and the clip's two real dancers (the man beside her, the same
routine, less polished) are compared and named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import compare_takes as takes
from pipeline.runner import PipelineOptions, analyze_video
from tests.clips import shared_file

pytestmark = pytest.mark.shared_data
FPS = 30
DELAY_FRAMES = 6  # 0.2 s
SECONDS = 8


def _side_by_side(path, frames: list[np.ndarray], audio: np.ndarray | None = None) -> None:
    """The girl at each frame on the left, the same 6 frames earlier on the right; with
    `audio`, her soundtrack."""
    takes.beside_later(
        path, frames, delay_frames=DELAY_FRAMES, seconds=SECONDS, fps=FPS, audio=audio
    )


def _sides(keypoints: dict) -> dict[int, float]:
    """Each id's mean x (0..1) over the frames it is found in."""
    xs: dict[int, list[float]] = {}
    for frame in keypoints["frames"]:
        for person in frame["people"]:
            xs.setdefault(person["id"], []).append(person["landmarks"][0]["x"])
    return {person: float(np.mean(x)) for person, x in xs.items()}


def test_a_dancer_beside_herself_02_s_later_comes_out_02_s_behind(tmp_path):
    shared_file(takes.DANCERS / takes.GIRL.clip)
    girl = takes.decode(takes.GIRL)
    clip = tmp_path / "twins.mp4"
    _side_by_side(clip, girl.frames)
    result = analyze_video(clip, tmp_path / "out", PipelineOptions(max_people=2, exports=()))
    group = json.loads(result.analysis_path.read_text())["group"]
    sides = _sides(json.loads(result.keypoints_path.read_text()))
    later = max(sides, key=sides.get)  # the copy on the right
    [pair] = group["pairs"]
    offset = pair["offset_ms"] if pair["dancers"][1] == later else -pair["offset_ms"]
    assert abs(offset - 200) <= 1000 / FPS, pair
    assert pair["behind"] == later and group["leader"] == min(sides, key=sides.get)
    # the same pixels, yet the pose similarity is about 47: the two copies' landmarks, found
    # side by side by the several-dancer path, differ (limbs, left and right); what is asked
    # of the group's timing holds regardless (docs/analysis.md, group synchronisation)
    assert pair["pose"] is not None and pair["coverage"] >= 0.9
    assert result.metrics["group_sync_score"] == group["score"]


def test_the_two_real_dancers_are_compared_and_the_moments_apart_named(tmp_path):
    clip = shared_file(takes.DANCERS / "pair_phone.mp4")
    options = PipelineOptions(max_people=2, exports=())
    group = json.loads(analyze_video(clip, tmp_path, options).analysis_path.read_text())["group"]
    assert len(group["dancers"]) == 2 and group["score"] is not None
    [pair] = group["pairs"]
    assert abs(pair["offset_ms"]) < 500  # the same routine to the same music
    assert 0 < group["score"] < 100
    assert group["least_in_unison"]
    assert all(item["text"].startswith("dancers ") for item in group["least_in_unison"])

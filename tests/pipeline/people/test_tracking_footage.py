"""Several dancers followed through the whole pipeline, scored against the ground truth of
the footage (`bench/tracking_scenes.py`) with motmetrics (`bench/tracking_score.py`): the
tracking benchmark's clips, shorter. A regression in recall or identity fails here."""

from __future__ import annotations

from bench import tracking_scenes as scenes
from bench.tracking_score import meets_the_bar, score, tracked_necks
from pipeline.runner import PipelineOptions, analyze_video


def followed(scene: scenes.Scene, tmp_path, crf: int = 20) -> dict:
    clip = tmp_path / "clip.mp4"
    truth = scene.write(clip, scene.height, crf=crf)
    options = PipelineOptions(max_people=scene.people, analysis=None)
    result = analyze_video(clip, tmp_path / "out", options)
    return score(truth, tracked_necks(result.keypoints_path), scene.fps)


def assert_followed(result: dict) -> None:
    assert meets_the_bar(result), result


def test_two_dancers_side_by_side_are_each_found_under_one_id(tmp_path):
    assert_followed(followed(scenes.side_by_side(frames=300), tmp_path))


def test_dancers_crossing_keep_their_ids_through_each_other(tmp_path):
    """Two crossings (frames 75 and 225), the first dancer hidden behind the second."""
    assert_followed(followed(scenes.crossing(frames=260), tmp_path))


def test_crossing_three_times_at_another_quality_keeps_two_ids(tmp_path):
    """The whole crossing clip (3 crossings) encoded at crf 22: the hidden dancer's scraps
    and the detector's guesses where they were lost got ids of their own (5 ids for 2
    dancers) before such finds became candidates and the cast rule stopped taking scraps."""
    assert_followed(followed(scenes.crossing(), tmp_path, crf=22))


def test_a_dancer_back_after_3_s_away_gets_the_same_id(tmp_path):
    """Off the stage from frame 135 to 225 (3 s at 30 fps), back in place by 270."""
    result = followed(scenes.leave_and_return(frames=300), tmp_path)
    assert_followed(result)


def test_four_in_a_row_keep_one_id_each(tmp_path):
    """852x480, two of the four mirrored twins of the other two: in a tile of two or three
    dancers the detector gives one, so this fails unless each tile is looked at again with
    those found painted out."""
    assert_followed(followed(scenes.row(4, frames=150), tmp_path))


def test_four_dancers_96_px_tall_keep_one_id_each(tmp_path):
    """The row at 426x240: a partial pose shrank a region to a crop that cut its dancer, and
    the detector's guess there, a body spanning two dancers, got an id of its own."""
    assert_followed(followed(scenes.row(4, frames=150, height=240), tmp_path))

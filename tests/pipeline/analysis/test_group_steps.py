"""The page's rule for each dancer being in or out of step at a moment (steps.js), as the
overlay applies it: the window under the moment, the mean of the dancer's pair scores there,
the mean signed offset, and the page's words. (tests/web/test_step_rule.py runs the page's own
function on the same groups.)"""

from __future__ import annotations

from pipeline.analysis.group_steps import IN_STEP, Step, has_windows, steps_at


def window(start: float, offset_ms: int, score: float | None) -> dict:
    return {"start_s": start, "end_s": start + 2.0, "offset_ms": offset_ms, "score": score}


def trio() -> dict:
    """Three dancers: 2 is 200 ms behind 1 and out of step from 2 s on; 3 is compared with 1
    only (the pair 2-3 failed), and only from 2 s; 1-2's and 1-3's offsets average to a
    half ms."""
    return {
        "dancers": [{"id": 1}, {"id": 2}, {"id": 3}],
        "pairs": [
            {
                "dancers": [1, 2],
                "segments": [window(0.0, 20, 90.0), window(2.0, 200, 40.0), window(4.0, 0, None)],
            },
            {"dancers": [1, 3], "segments": [window(2.0, -73, 80.0), window(4.0, 100, 80.0)]},
            {"dancers": [2, 3], "error": {"code": "too_short", "message": "..."}},
        ],
    }


def by_id(steps: list[Step]) -> dict[int, Step]:
    return {step.id: step for step in steps}


def test_in_step_where_the_pairs_score_well_and_the_offset_is_said_from_50_ms():
    steps = by_id(steps_at(trio(), 1.0))
    assert steps[1] == Step(1, "in", -20) and steps[1].words == "in step"
    assert steps[2] == Step(2, "in", 20) and steps[2].lines == ("in step",)
    assert steps[3] == Step(3, "unknown", None) and steps[3].words == "not compared here"


def test_out_of_step_and_behind_where_the_mean_of_the_pair_scores_is_under_75():
    steps = by_id(steps_at(trio(), 2.0))  # a window's start belongs to it
    # 1: pairs 40 and 80, mean 60: out; offsets -200 and +73, mean -63.5, rounded as JS does
    # (Python's round would give -64)
    assert steps[1] == Step(1, "out", -63)
    assert steps[1].words == "out of step, 63 ms ahead"
    assert steps[1].lines == ("out of step", "63 ms ahead")
    assert steps[2] == Step(2, "out", 200) and steps[2].words == "out of step, 200 ms behind"
    assert steps[3] == Step(3, "in", -73) and steps[3].words == "in step, 73 ms ahead"
    assert IN_STEP == 75


def test_a_window_without_a_score_is_left_out_and_nothing_is_known_outside_the_windows():
    steps = by_id(steps_at(trio(), 5.0))
    assert steps[1] == Step(1, "in", -100)  # 1-2's window has no score: 1-3's alone
    assert steps[2] == Step(2, "unknown", None)
    assert steps[3] == Step(3, "in", 100) and steps[3].words == "in step, 100 ms behind"
    assert {s.state for s in steps_at(trio(), 6.0)} == {"unknown"}
    assert {s.state for s in steps_at(trio(), -0.5)} == {"unknown"}


def test_only_a_group_with_windows_is_followed():
    assert has_windows(trio())
    assert not has_windows(None)
    assert not has_windows({"dancers": [{"id": 1}, {"id": 2}], "pairs": [{"dancers": [1, 2]}]})

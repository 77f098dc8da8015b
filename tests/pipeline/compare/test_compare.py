"""The comparison's rules, one by one, on synthetic dancers (`bench/synthetic_dancers.py`) and
synthetic soundtracks: no video, no model. Real footage: `test_compare_footage.py`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.synthetic_dancers import (
    ANGLE_NAMES,
    FPS,
    body,
    dancer,
    frame_times,
    mirrored,
    performance,
    trajectories,
)
from pipeline.compare import (
    ComparisonError,
    Performance,
    Soundtrack,
    compare_performances,
    comparison_summary,
)
from pipeline.compare.alignment import coarse_size
from pipeline.compare.scoring import judge
from pipeline.compare.soundtrack import SR, align_music

SECONDS = 12.0


@pytest.fixture(scope="module")
def reference() -> Performance:
    return dancer(SECONDS)


def with_gaps(p: Performance, spans: list[tuple[float, float]]) -> Performance:
    """The performance with no pose found in each (start, end) span of seconds."""
    lm = p.landmarks.copy()
    for start, end in spans:
        lm[(p.times >= start) & (p.times < end)] = np.nan
    return Performance(p.times, lm, p.width, p.height, p.angles, p.angle_names)


def shown(times: np.ndarray, source_time: np.ndarray, seed: int = 1) -> Performance:
    """A take showing the dance of `dancer(seed=seed)` at `source_time(t)` at each time t."""
    return performance(times, body(trajectories(source_time, seed)))


def music(seconds: float, seed: int = 3) -> np.ndarray:
    """A song: a kick every 0.5 s and an irregular melody of noise bursts (so that no two
    bars sound alike), mono at the comparison's rate."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR), np.float32)
    decay = np.exp(-np.arange(2000) / 300.0).astype(np.float32)
    for start in np.arange(0.0, seconds, 0.5):
        i = int(start * SR)
        y[i : i + 2000] += 0.8 * decay[: len(y[i : i + 2000])]
    for start in np.cumsum(rng.uniform(0.1, 0.4, int(seconds * 5))):
        i = int(start * SR)
        if i < len(y) - 4000:
            y[i : i + 4000] += 0.3 * rng.normal(size=4000).astype(np.float32) * np.hanning(4000)
    return y


def soundtrack(samples: np.ndarray, start_s: float = 0.0) -> Soundtrack:
    return Soundtrack(samples.astype(np.float32), start_s, None)


def test_itself_scores_100_on_the_exact_diagonal_whatever_its_detection(reference) -> None:
    rng = np.random.default_rng(4)
    spans = [(s, s + rng.uniform(0.2, 1.0)) for s in rng.uniform(0, SECONDS, 8)]
    gappy = with_gaps(reference, spans)  # about a third of the frames without a pose
    assert 0.55 < np.isfinite(gappy.landmarks[:, 0, 0]).mean() < 0.8
    for p in (reference, gappy):
        report = compare_performances(p, p)
        assert report["score"] == report["similarity"] == 100.0
        assert report["scores"] == {"pose": 100.0, "timing": 100.0, "amplitude": 100.0}
        assert report["path"]["reference_time_s"] == report["path"]["attempt_time_s"]
        assert report["alignment"]["offset_s"] == 0.0
    json.dumps(report, allow_nan=False)
    posed = np.flatnonzero(np.isfinite(gappy.landmarks[:, 0, 0]))  # the dance: first to last
    share = len(posed) / (posed[-1] - posed[0] + 1)
    assert report["coverage"] == pytest.approx(share, abs=0.01)


def test_frames_without_a_pose_are_left_out_not_charged(reference) -> None:
    copy = with_gaps(reference, [(2.0, 3.5), (7.0, 8.0)])
    report = compare_performances(reference, copy)
    assert report["scores"]["pose"] == 100.0 and report["score"] >= 99.5
    assert report["coverage"] == pytest.approx(1 - 2.5 / SECONDS, abs=0.02)
    assert report["judgements"]["counts"]["not_judged"] >= 2
    sparse = with_gaps(reference, [(0.5, 7.0)])
    warnings = {w["code"] for w in compare_performances(reference, sparse)["warnings"]}
    assert {"low_coverage", "timing_without_music"} <= warnings


@pytest.mark.parametrize("lead_in", [3.0, 40.0])
def test_a_lead_in_and_another_end_are_found_without_trimming(reference, lead_in) -> None:
    """The attempt: `lead_in` seconds of something else (another dance), the reference's
    dance, then two seconds of yet another dance."""
    total = lead_in + SECONDS + 2.0
    t = frame_times(total)
    pts = body(trajectories(t - lead_in, 1))
    pts[t < lead_in] = body(trajectories(t, 7))[t < lead_in]
    pts[t > lead_in + SECONDS] = body(trajectories(t, 8))[t > lead_in + SECONDS]
    report = compare_performances(reference, performance(t, pts))
    assert report["alignment"]["offset_s"] == pytest.approx(lead_in, abs=1 / FPS)
    assert report["alignment"]["attempt_start_s"] == pytest.approx(lead_in, abs=1 / FPS)
    assert report["score"] >= 97 and report["coverage"] >= 0.97


def test_an_attempt_that_starts_later_is_compared_where_it_overlaps(reference) -> None:
    t = frame_times(SECONDS - 3.0)
    report = compare_performances(reference, shown(t, t + 3.0))
    assert report["alignment"]["offset_s"] == pytest.approx(-3.0, abs=1 / FPS)
    assert report["alignment"]["reference_start_s"] == pytest.approx(3.0, abs=0.1)
    assert report["score"] >= 97
    assert report["coverage"] == pytest.approx(0.75, abs=0.02)


def test_a_retimed_copy_is_followed(reference) -> None:
    """The first 4 s of the dance at 1.5x, the rest at 0.75x: up to 1.33 s ahead."""

    def source(u):
        return np.where(u < 4.0 / 1.5, 1.5 * u, 4.0 + 0.75 * (u - 4.0 / 1.5))

    t = frame_times(4.0 / 1.5 + (SECONDS - 4.0) / 0.75)
    report = compare_performances(reference, shown(t, source(t)))
    ref_t = np.array(report["path"]["reference_time_s"])
    att_t = np.array(report["path"]["attempt_time_s"])
    truth = np.interp(ref_t, source(t), t)
    assert np.median(np.abs(att_t - truth)) <= 1 / FPS
    assert report["scores"]["pose"] >= 97
    assert report["timing"]["basis"] == "movement"  # no music: against its own tempo


def test_mirror_auto_finds_a_dancer_facing_the_teacher(reference) -> None:
    copy = mirrored(reference)
    auto = compare_performances(reference, copy, mirror="auto")
    assert auto["mirror"] is True and auto["mirror_decision"]["mode"] == "auto"
    assert auto["score"] >= 99
    assert compare_performances(reference, reference, mirror="auto")["mirror"] is False
    forced = compare_performances(reference, copy, mirror=False)
    assert forced["mirror"] is False and forced["score"] < 70
    assert forced["mirror_decision"] == {"mode": "off", "mirrored": False}


def test_size_place_and_frame_rate_do_not_matter(reference) -> None:
    t = frame_times(SECONDS, fps=25.0)
    small = performance(
        t, body(trajectories(t, 1)), torso_px=60, centre=(300, 250), size=(640, 480)
    )
    assert compare_performances(reference, small)["score"] >= 99


def test_a_different_dance_scores_low(reference) -> None:
    for seed in (2, 5, 9):
        report = compare_performances(reference, dancer(SECONDS, seed=seed))
        assert report["score"] <= 40, (seed, report["scores"])


def test_a_marked_dance_loses_amplitude_and_says_so(reference) -> None:
    t = reference.times
    base = np.array([0.5, 0.5, 0.8, 0.8, 0.15, 0.15, 0.3, 0.3, 0.0])
    angles = trajectories(t, 1)
    small = performance(t, body(base + 0.5 * (angles - base)))  # every swing half as wide
    report = compare_performances(reference, small)
    assert report["amplitude"]["ratio"] == pytest.approx(0.5, abs=0.12)
    assert 40 <= report["scores"]["amplitude"] <= 65
    assert report["score"] < report["scores"]["pose"]
    assert any("movement smaller" in f["text"] for f in report["feedback"])


def test_feedback_names_the_joint_and_how() -> None:
    t = frame_times(8.0)
    pts = body(trajectories(t, 1))
    ref = performance(t, pts)
    angles = trajectories(t, 1)
    angles[(t >= 4.0) & (t < 6.0), 4] += 0.8  # the left forearm bent 46° further for 2 s
    report = compare_performances(ref, performance(t, body(angles)))
    worst = report["feedback"][0]
    assert 3.5 <= worst["reference_start_s"] <= 4.5
    left_elbow = next(j for j in worst["joints"] if j["joint"] == "left_elbow")
    assert abs(left_elbow["difference_deg"]) > 20 and "left elbow" in worst["text"]
    assert "more bent than the reference" in worst["text"] or "straighter than" in worst["text"]
    assert worst["text"].startswith(f"{worst['reference_start_s']:.1f}-")


def test_judgements_follow_the_thresholds() -> None:
    assert judge(95.0, 0.05) == "perfect"
    assert judge(95.0, 0.15) == "good"
    assert judge(80.0, None) == "good"
    assert judge(60.0, -0.25) == "ok"
    assert judge(95.0, 0.5) == "miss" and judge(40.0, 0.0) == "miss"
    assert judge(None, 0.0) is None


def test_timing_against_the_music(reference) -> None:
    """The attempt's video shows every move 0.3 s after the reference does, while its song
    starts 2 s later in its own soundtrack (another cut): late by 0.3 s."""
    song = music(SECONDS + 6.0)
    t = frame_times(SECONDS + 2.0)
    late = shown(t, t - 2.0 - 0.3)
    ref_audio = soundtrack(song[: int(SECONDS * SR)])
    att_audio = soundtrack(
        np.concatenate([np.zeros(2 * SR, np.float32), song])[: int((SECONDS + 2) * SR)]
    )
    report = compare_performances(
        reference, late, reference_audio=ref_audio, attempt_audio=att_audio
    )
    assert report["music"]["aligned"] and report["music"]["offset_s"] == pytest.approx(
        2.0, abs=0.01
    )
    assert report["timing"]["basis"] == "music"
    assert report["timing"]["mean_offset_s"] == pytest.approx(0.3, abs=1 / FPS)
    assert report["timing"]["verdict"].startswith("late by 0.3")
    assert report["scores"]["pose"] >= 97 and report["scores"]["timing"] < 40
    assert report["judgements"]["unit"] == "beat"
    on_time = compare_performances(
        reference, shown(t, t - 2.0), reference_audio=ref_audio, attempt_audio=att_audio
    )
    assert on_time["timing"]["verdict"] == "on time" and on_time["score"] >= 99


def test_music_with_drift_and_unrelated_sound() -> None:
    song = music(30.0)
    faster = np.interp(
        np.arange(0, len(song) / 1.01) * 1.01, np.arange(len(song)), song
    )  # 1 % faster
    mapping = align_music(soundtrack(song), soundtrack(faster, start_s=0.5))
    assert mapping is not None
    t = np.array([5.0, 15.0, 25.0])
    np.testing.assert_allclose(mapping(t), t / 1.01 + 0.5, atol=0.03)
    assert mapping.drift_s == pytest.approx(-0.2, abs=0.06)
    noise = np.random.default_rng(1).normal(0, 0.1, 30 * SR).astype(np.float32)
    assert align_music(soundtrack(song), soundtrack(noise)) is None
    assert align_music(soundtrack(song), Soundtrack(None, 0.0, "no soundtrack")) is None


def test_no_soundtrack_on_one_side_falls_back_and_says_why(reference) -> None:
    report = compare_performances(reference, reference, reference_audio=soundtrack(music(SECONDS)))
    assert report["music"] == {"aligned": False, "reason": "the attempt has no soundtrack"}
    assert report["timing"]["basis"] == "movement"
    assert report["warnings"][-1]["code"] == "timing_without_music"


def test_too_little_pose_is_a_clear_error(reference) -> None:
    lm = np.full_like(reference.landmarks, np.nan)
    lm[:10] = reference.landmarks[:10]
    empty = Performance(reference.times, lm, 1280, 720, reference.angles, ANGLE_NAMES)
    with pytest.raises(ComparisonError) as caught:
        compare_performances(reference, empty)
    assert caught.value.code == "too_little_pose" and "attempt" in caught.value.message
    with pytest.raises(ValueError, match="mirror"):
        compare_performances(reference, reference, mirror="sideways")  # type: ignore[arg-type]


def test_the_summary_leaves_out_the_long_lists(reference) -> None:
    report = compare_performances(reference, reference)
    summary = comparison_summary(report)
    assert "path" not in summary and "moments" not in summary
    assert summary["score"] == 100.0 and summary["segments"] and summary["feedback"] == []
    assert len(report["moments"]) == 12 and report["judgements"]["unit"] == "window"


def test_ten_minutes_stay_on_the_30_hz_grid_with_a_bounded_matrix() -> None:
    assert coarse_size(18_000, 18_000, 30.0) == 6  # 5 Hz coarse pass: 9e6 cells
    t = frame_times(600.0)
    long = performance(t, body(trajectories(t, 3)))
    report = compare_performances(long, long)
    assert report["rate_hz"] == 30.0 and report["score"] == 100.0


def hostile(reference: Performance) -> dict[str, Performance]:
    """Performances a broken or hostile keypoints file could hold."""
    t, lm = reference.times, reference.landmarks
    huge = lm.copy()
    huge[::7, :, :2] = 1e12  # points far outside the picture
    odd = lm.copy()
    odd[::5, :, 3] = np.inf  # infinite visibility
    odd[::9, :, 0] = np.nan  # a coordinate missing, visibility kept
    still = np.repeat(lm[:1], len(t), axis=0)  # one pose held throughout
    repeated_times = np.repeat(t[: (len(t) + 1) // 2], 2)[: len(t)]  # two frames a time
    return {
        "huge": Performance(t, huge, 1280, 720, reference.angles, ANGLE_NAMES),
        "odd": Performance(t, odd, 1280, 720, reference.angles, ANGLE_NAMES),
        "still": Performance(t, still, 1280, 720, reference.angles, ANGLE_NAMES),
        "repeated_times": Performance(repeated_times, lm, 1280, 720, reference.angles, ANGLE_NAMES),
        "one_frame": Performance(t[:1], lm[:1], 1280, 720, reference.angles[:1], ANGLE_NAMES),
        "tiny_frame": Performance(t, lm, 1, 1, reference.angles, ANGLE_NAMES),
    }


@pytest.mark.parametrize(
    "name", ["huge", "odd", "still", "repeated_times", "one_frame", "tiny_frame"]
)
def test_hostile_performances_give_a_report_or_a_clear_error(reference, name) -> None:
    attempt = hostile(reference)[name]
    for a, b in ((reference, attempt), (attempt, reference), (attempt, attempt)):
        try:
            report = compare_performances(a, b, mirror="auto")
        except ComparisonError as exc:
            assert exc.code in ("too_little_pose", "not_comparable") and exc.message
        else:
            json.dumps(report, allow_nan=False)
            assert 0.0 <= report["score"] <= 100.0


def test_bad_times_and_sizes_are_value_errors(reference) -> None:
    backwards = Performance(
        reference.times[::-1], reference.landmarks, 1280, 720, reference.angles, ANGLE_NAMES
    )
    with pytest.raises(ValueError, match="non-decreasing"):
        compare_performances(reference, backwards)
    flat = Performance(reference.times, reference.landmarks, 0, 720, reference.angles, ANGLE_NAMES)
    with pytest.raises(ValueError, match="size"):
        compare_performances(flat, reference)


def test_soundtracks_of_files_without_music(tmp_path) -> None:
    from pipeline.compare import load_soundtrack
    from pipeline.video.samples import make_clip

    mute = make_clip(tmp_path / "mute.mp4", frames=15, fps=15)
    assert load_soundtrack(mute).problem == "no soundtrack"
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert load_soundtrack(text).problem == "an undecodable soundtrack"
    tone = make_clip(tmp_path / "tone.mp4", frames=30, fps=15, audio=True)  # a steady tone
    loaded = load_soundtrack(tone)
    assert loaded.usable
    assert align_music(loaded, loaded) is None  # a steady tone has nothing to line up


def test_a_click_track_heard_twice_is_placed_where_the_dance_is(reference, tmp_path) -> None:
    """Every beat of a metronome sounds alike: the soundtrack alone cannot say which beat is
    which, so among equally good offsets the one where the dance lies is taken (a job with
    this click track compared with itself once scored 60, its music one beat off)."""
    from pipeline.compare import load_soundtrack
    from pipeline.video.samples import make_clip

    clip = make_clip(tmp_path / "clicks.mp4", frames=60, fps=15, audio=True, beat_bpm=120)
    track = load_soundtrack(clip)
    report = compare_performances(reference, reference, reference_audio=track, attempt_audio=track)
    assert report["music"]["aligned"] and report["music"]["offset_s"] == 0.0
    assert report["score"] == 100.0

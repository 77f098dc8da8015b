"""The comparison on real footage, as users' uploads go through the service: a real dancer
with her music (`bench/compare_cases.py`: the girl of the shared `pair_phone.mp4`, the
picture lost three times so that BlazePose misses her in a sixth of the frames), each
attempt encoded and analysed by the pipeline, compared from what a job stores. The bars
are the issue's; the benchmark (`bench/bench_compare.py`) runs the same cases and a second
dancer. Also the shared street footage (no music) against a time-warped copy of itself."""

from __future__ import annotations

import numpy as np
import pytest

from bench import compare_cases as cases
from bench import compare_takes as takes
from pipeline.analysis.performance import Performance, for_comparison
from pipeline.compare import NO_SOUNDTRACK, compare_performances
from pipeline.compare.folders import (
    compare_folders,
    load_folder_soundtrack,
    load_performance,
)
from pipeline.runner import PipelineOptions, analyze_video
from tests.clips import STREET_VIDEO, shared_file

pytestmark = pytest.mark.shared_data
FRAME = 1 / 30


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, object]:
    """Every take of the girl's cases, rendered and analysed: {case name: folder}."""
    shared_file(takes.DANCERS / takes.GIRL.clip)
    root = tmp_path_factory.mktemp("girl")
    out = {}
    for name, take in [("reference", cases.GIRL_REFERENCE)] + [
        (case.name, case.attempt) for case in cases.GIRL_CASES if case.name != "itself"
    ]:
        folder = root / name
        folder.mkdir()
        takes.render(take, folder / "take.mp4")
        analyze_video(folder / "take.mp4", folder, PipelineOptions(exports=()))
        out[name] = folder
    out["itself"] = out["reference"]
    return out


def compared(folders, name: str, *, music: bool = True) -> dict:
    ref, att = folders["reference"], folders[name]
    return compare_performances(
        load_performance(ref),
        load_performance(att),
        mirror="auto",
        reference_audio=load_folder_soundtrack(ref) if music else NO_SOUNDTRACK,
        attempt_audio=load_folder_soundtrack(att),
    )


def case(name: str) -> cases.Case:
    return next(c for c in cases.GIRL_CASES if c.name == name)


def true_offset(name: str) -> float:
    t = np.arange(0.0, 9.0, 0.1)
    c = case(name)
    return float(np.nanmedian(takes.true_attempt_time(c.reference, c.attempt, t) - t))


def test_the_reference_misses_the_dancer_in_some_frames(folders) -> None:
    landmarks = load_performance(folders["reference"]).landmarks
    assert 0.7 < np.isfinite(landmarks[:, 0, 0]).mean() < 0.9


def test_itself_scores_100_on_the_diagonal(folders) -> None:
    report = compared(folders, "itself")
    assert report["score"] == 100.0
    assert report["path"]["reference_time_s"] == report["path"]["attempt_time_s"]


@pytest.mark.parametrize("name", ["earlier", "later"])
def test_another_cut_is_found_without_trimming(folders, name) -> None:
    for music in (True, False):
        report = compared(folders, name, music=music)
        assert report["score"] >= 97, report["scores"]
        assert report["alignment"]["offset_s"] == pytest.approx(true_offset(name), abs=FRAME)
    assert report["music"]["aligned"] is False
    assert compared(folders, name)["music"]["offset_s"] == pytest.approx(
        true_offset(name), abs=0.01
    )


def test_a_retimed_performance_is_early_where_the_retiming_put_it(folders) -> None:
    report = compared(folders, "retimed")
    assert report["scores"]["pose"] >= 90
    c = case("retimed")
    errors = []
    for m in report["moments"]:
        if m["timing_offset_s"] is None:
            continue
        t = np.linspace(m["reference_start_s"], m["reference_end_s"], 20)
        truth = np.nanmean(
            takes.true_attempt_time(c.reference, c.attempt, t)
            - takes.true_music_offset(c.reference, c.attempt, t)
        )
        errors.append(m["timing_offset_s"] - truth)
        assert m["timing_offset_s"] < 0  # early: the re-timing runs ahead of the music
    assert len(errors) >= 8
    assert np.median(np.abs(errors)) <= 0.05
    assert report["timing"]["verdict"].startswith("early by")


def test_late_on_the_music_by_a_third_of_a_second(folders) -> None:
    report = compared(folders, "delayed")
    assert report["scores"]["pose"] >= 97
    assert report["timing"]["mean_offset_s"] == pytest.approx(0.3, abs=FRAME)
    assert report["timing"]["verdict"] == "late by 0.30 s"
    assert report["judgements"]["unit"] == "beat"
    assert any("late on the beat" in f["text"] for f in report["feedback"])
    assert compared(folders, "delayed", music=False)["score"] >= 97  # no music: no lateness


def test_a_mirrored_attempt_is_found_mirrored(folders) -> None:
    report = compared(folders, "mirrored")
    assert report["mirror"] is True and report["score"] >= 97


@pytest.mark.parametrize("name", ["zoomed", "shifted", "small_15fps"])
def test_another_camera_scores_high(folders, name) -> None:
    report = compared(folders, name)
    assert report["score"] >= 92, report["scores"]
    assert report["mirror"] is False


def test_another_choreography_scores_low(folders) -> None:
    for music in (True, False):
        assert compared(folders, "reversed", music=music)["score"] <= 40


def test_the_folders_give_the_report_and_the_video(folders, tmp_path) -> None:
    report = compare_folders(folders["reference"], folders["delayed"], tmp_path, video=True)
    assert (tmp_path / "comparison.json").is_file() and report["video"]["frames"] > 200
    assert (tmp_path / "comparison.mp4").stat().st_size > 10_000


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> Performance:
    out = tmp_path_factory.mktemp("street")
    result = analyze_video(shared_file(STREET_VIDEO), out, PipelineOptions(exports=()))
    return Performance.from_keypoints(result.keypoints_path)


def test_street_footage_against_a_time_warped_copy_of_itself(street) -> None:
    """Replayed at the same frame rate: the first half at 1.5x (every third frame dropped),
    the second half at 0.75x (every third frame shown twice)."""
    n = len(street.times)
    source = [i for i in range(n // 2) if i % 3 != 2]
    for i in range(n // 2, n):
        source += [i, i] if i % 3 == 0 else [i]
    index = np.array(source)
    times = np.arange(len(index)) / street.fps
    copy = Performance(
        np.arange(len(index)),
        times,
        street.landmarks[index],
        street.width,
        street.height,
        street.fps,
    )
    same = compare_performances(for_comparison(street), for_comparison(street))
    assert same["score"] == 100.0
    report = compare_performances(for_comparison(street), for_comparison(copy))
    assert report["scores"]["pose"] >= 95
    att = np.array(report["path"]["attempt_time_s"])
    ref = np.array(report["path"]["reference_time_s"])
    shows = np.interp(att, times, street.times[index])
    assert np.median(np.abs(shows - ref)) <= FRAME

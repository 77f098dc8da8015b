"""The comparison on real landmarks: BlazePose's output on the shared street footage, against
itself, a time-warped copy of itself (frames dropped, then repeated) and another clip."""

from __future__ import annotations

import numpy as np
import pytest

from tests.clips import STREET_VIDEO, make_clip, shared_file
from worker.pipeline.analysis import Performance, for_comparison
from worker.pipeline.compare import compare_performances, normalise_poses
from worker.pipeline.runner import analyze_video


@pytest.fixture(scope="module")
def street(tmp_path_factory) -> Performance:
    out = tmp_path_factory.mktemp("street")
    result = analyze_video(shared_file(STREET_VIDEO), out)
    return Performance.from_keypoints(result.keypoints_path)


def warped(performance: Performance) -> tuple[Performance, np.ndarray]:
    """Replayed at the same frame rate: the first half at 1.5x (every third frame dropped),
    the second half at 0.75x (every third frame shown twice). Also returns, per warped
    frame, the time in the original it shows."""
    n = len(performance.times)
    half = n // 2
    source = [i for i in range(half) if i % 3 != 2]
    for i in range(half, n):
        source += [i, i] if i % 3 == 0 else [i]
    index = np.array(source)
    period = 1 / performance.fps
    copy = Performance(
        frames=np.arange(len(index)),
        times=np.arange(len(index)) * period,
        landmarks=performance.landmarks[index],
        width=performance.width,
        height=performance.height,
        fps=performance.fps,
    )
    return copy, performance.times[index]


def test_the_footage_against_itself_scores_full_marks(street):
    same = for_comparison(street)
    report = compare_performances(same, same)
    assert report["similarity"] >= 99
    # The path is the diagonal wherever there is a pose. Where a stretch has none, every cell
    # costs the same and DTW may leave the diagonal there: which way it breaks the tie is
    # arbitrary, and which frames have no pose moves with BlazePose's numerics (CPU kernels).
    has_pose = ~np.isnan(normalise_poses(same)).all(axis=(1, 2))

    def pose_at(t: float) -> bool:  # the grid takes each time's nearest frame
        return bool(has_pose[np.abs(same.times - t).argmin()])

    path = report["path"]
    pairs = list(zip(path["reference_time_s"], path["attempt_time_s"], strict=True))
    assert all(not (pose_at(r) and pose_at(a)) for r, a in pairs if r != a)
    assert sum(r == a for r, a in pairs) >= 0.9 * len(pairs)


def test_a_time_warped_copy_scores_high_and_the_path_recovers_the_warp(street):
    copy, shown = warped(street)
    report = compare_performances(for_comparison(street), for_comparison(copy))
    assert report["similarity"] >= 88  # 90.7 measured; 100 against itself
    # along the path, the attempt's time maps back to the reference time it shows
    attempt_times = np.array(report["path"]["attempt_time_s"])
    reference_times = np.array(report["path"]["reference_time_s"])
    shows = np.interp(attempt_times, copy.times, shown)
    errors = np.abs(shows - reference_times)
    assert np.median(errors) <= 0.05  # 0.014 s measured
    # 0.21 s measured: around the abrupt change from 1.5x to 0.75x the path cuts the corner
    assert np.percentile(errors, 90) <= 0.25


def test_another_movement_scores_clearly_lower(street, tmp_path):
    clip = make_clip(tmp_path / "astronaut.mp4", frames=60, fps=15, width=640, height=360)
    other = Performance.from_keypoints(analyze_video(clip, tmp_path / "out").keypoints_path)
    same = compare_performances(for_comparison(street), for_comparison(street))["similarity"]
    different = compare_performances(for_comparison(street), for_comparison(other))
    assert different["similarity"] < same - 25

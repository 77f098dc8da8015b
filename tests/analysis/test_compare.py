"""Acceptance cases of worker.pipeline.compare on synthetic dancers (no video, no model)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from worker.pipeline.compare import (
    MAX_CELLS,
    Performance,
    compare_performances,
    comparison_summary,
    normalise_poses,
)

FPS = 30.0
ANGLE_NAMES = ("left_elbow", "right_elbow", "left_knee", "right_knee")
# the person's left is on the image right (+x) when facing the camera; units: torso lengths
HEAD = {0: (0.0, -1.45), 1: (0.04, -1.5), 2: (0.07, -1.5), 3: (0.1, -1.5), 4: (-0.04, -1.5),
        5: (-0.07, -1.5), 6: (-0.1, -1.5), 7: (0.15, -1.45), 8: (-0.15, -1.45),
        9: (0.05, -1.35), 10: (-0.05, -1.35), 11: (0.4, -1.0), 12: (-0.4, -1.0),
        23: (0.2, 0.0), 24: (-0.2, 0.0)}  # fmt: skip
PAIRS = ((11, 12), (13, 14), (15, 16), (17, 18), (19, 20), (21, 22), (23, 24), (25, 26),
         (27, 28), (29, 30), (31, 32), (1, 4), (2, 5), (3, 6), (7, 8), (9, 10))  # fmt: skip


def trajectories(times: np.ndarray, seed: int) -> np.ndarray:
    """(T, 9) angles in radians: 4 limb roots, 4 limb bends, trunk lean; sums of sines."""
    rng = np.random.default_rng(seed)
    base = np.array([0.5, 0.5, 0.8, 0.8, 0.15, 0.15, 0.3, 0.3, 0.0])
    amp = np.array([0.9, 0.9, 0.8, 0.8, 0.25, 0.25, 0.35, 0.35, 0.12])
    out = np.tile(base, (len(times), 1))
    for _ in range(3):
        freq = rng.uniform(0.13, 0.8, size=9)
        phase = rng.uniform(0, 2 * np.pi, size=9)
        out += amp / 2 * np.sin(2 * np.pi * freq * times[:, None] + phase)
    return out


def body(angles: np.ndarray) -> np.ndarray:
    """(T, 33, 2) body points in torso lengths, mid-hip at the origin, y down."""
    t = len(angles)
    pts = np.zeros((t, 33, 2))
    for k, xy in HEAD.items():
        pts[:, k] = xy
    for side, (root, joint, end), (length1, length2), col in (
        (1, (11, 13, 15), (0.6, 0.55), 0),
        (-1, (12, 14, 16), (0.6, 0.55), 1),
        (1, (23, 25, 27), (0.85, 0.85), 2),
        (-1, (24, 26, 28), (0.85, 0.85), 3),
    ):
        a1, a2 = angles[:, col], angles[:, col] + angles[:, col + 4] * (1 if col < 2 else -1)
        pts[:, joint] = pts[:, root] + length1 * np.stack([side * np.sin(a1), np.cos(a1)], 1)
        pts[:, end] = pts[:, joint] + length2 * np.stack([side * np.sin(a2), np.cos(a2)], 1)
    for hand, wrist, side in ((17, 15, 1), (18, 16, -1)):  # pinky, index, thumb near the wrist
        for k in range(3):
            pts[:, hand + 2 * k] = pts[:, wrist] + (side * 0.05 * k, 0.1)
    for heel, ankle, side in ((29, 27, 1), (30, 28, -1)):
        pts[:, heel] = pts[:, ankle] + (0.0, 0.05)
        pts[:, heel + 2] = pts[:, ankle] + (side * 0.12, 0.08)
    upper = [k for k in range(23) if k not in (23, 24)]  # lean the trunk about the mid-hip
    c, s = np.cos(angles[:, 8])[:, None], np.sin(angles[:, 8])[:, None]
    x, y = pts[:, upper, 0].copy(), pts[:, upper, 1].copy()
    pts[:, upper, 0], pts[:, upper, 1] = c * x - s * y, s * x + c * y
    return pts


def angle_at(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def performance(
    times: np.ndarray,
    pts: np.ndarray,
    *,
    torso_px: float = 180.0,
    centre: tuple[float, float] = (640.0, 330.0),
    size: tuple[int, int] = (1280, 720),
) -> Performance:
    px = pts * torso_px + np.array(centre)
    landmarks = np.concatenate(
        [px / np.array(size), np.zeros(px.shape[:2] + (1,)), np.full(px.shape[:2] + (1,), 0.99)],
        axis=2,
    )
    missing = np.isnan(pts).any(axis=(1, 2))
    landmarks[missing] = np.nan
    angles = np.stack(
        [angle_at(px[:, a], px[:, b], px[:, c]) for a, b, c in
         ((11, 13, 15), (12, 14, 16), (23, 25, 27), (24, 26, 28))], axis=1,
    )  # fmt: skip
    return Performance(np.asarray(times, float), landmarks, size[0], size[1], angles, ANGLE_NAMES)


def frame_times(seconds: float, fps: float = FPS) -> np.ndarray:
    return np.arange(int(round(seconds * fps)) + 1) / fps


def dancer(seconds: float = 9.0, seed: int = 1, **kw) -> Performance:
    times = frame_times(seconds)
    return performance(times, body(trajectories(times, seed)), **kw)


def mirrored(p: Performance) -> Performance:
    """The same dance seen in a mirror: x flipped, left/right labels swapped."""
    index = np.arange(33)
    for a, b in PAIRS:
        index[a], index[b] = b, a
    lm = p.landmarks[:, index].copy()
    lm[:, :, 0] = 1.0 - lm[:, :, 0]
    return Performance(p.times, lm, p.width, p.height, p.angles[:, [1, 0, 3, 2]], p.angle_names)


def warp(u: np.ndarray) -> np.ndarray:
    """Reference time shown at attempt time u: 0-3 s at 1.5x, then 0.75x (9 s -> 10 s)."""
    return np.where(u < 2.0, 1.5 * u, 3.0 + 0.75 * (u - 2.0))


def unwarp(t: np.ndarray) -> np.ndarray:
    return np.where(t < 3.0, t / 1.5, 2.0 + (t - 3.0) / 0.75)


@pytest.fixture(scope="module")
def reference() -> Performance:
    return dancer()


def test_normalise_is_body_relative(reference: Performance) -> None:
    poses = normalise_poses(reference)
    assert poses.shape == (len(reference.times), 13, 2)
    torso = np.linalg.norm(poses[:, 1:3].mean(axis=1) - poses[:, 7:9].mean(axis=1), axis=1)
    np.testing.assert_allclose(torso, 1.0, atol=1e-9)
    np.testing.assert_allclose(poses[:, 7:9].mean(axis=1), 0.0, atol=1e-9)
    flipped = normalise_poses(reference, mirror=True)
    np.testing.assert_allclose(flipped[:, 1, 0], -poses[:, 2, 0], atol=1e-9)  # left <- right
    hidden = reference.landmarks.copy()
    hidden[5, 15, 3] = 0.2  # left wrist below the visibility threshold
    hidden[6] = np.nan
    p = Performance(reference.times, hidden, 1280, 720, reference.angles, ANGLE_NAMES)
    poses = normalise_poses(p)
    assert np.isnan(poses[5, 5]).all() and not np.isnan(poses[5, 6]).any()
    assert np.isnan(poses[6]).all()


def test_identical_scores_100_on_the_diagonal(reference: Performance) -> None:
    report = compare_performances(reference, reference)
    print("identical", report["similarity"])
    assert report["similarity"] >= 99
    assert report["path"]["reference_time_s"] == report["path"]["attempt_time_s"]
    assert report["rate_hz"] == 30.0 and report["mirror"] is False
    assert report["time_warp"]["mean_rate"] == 1.0
    assert len(report["segments"]) == 9 and len(report["worst_segments"]) == 5
    for name in ANGLE_NAMES:
        assert report["joint_angle_differences"][name]["max_abs_difference_deg"] == 0.0
    summary = comparison_summary(report)
    assert "path" not in summary and summary["similarity"] == report["similarity"]
    json.dumps(report, allow_nan=False)


def test_time_warped_copy_recovers_the_warp(reference: Performance) -> None:
    u = frame_times(10.0)  # frames dropped (1.5x) then repeated (0.75x)
    index = np.clip(np.round(warp(u) * FPS).astype(int), 0, len(reference.times) - 1)
    pts = body(trajectories(reference.times, 1))[index]
    report = compare_performances(reference, performance(u, pts))
    ref_t = np.array(report["path"]["reference_time_s"])
    att_t = np.array(report["path"]["attempt_time_s"])
    error = np.abs(att_t - unwarp(ref_t))
    print("warped", report["similarity"], "max path error", error.max(), report["time_warp"])
    assert report["similarity"] >= 90
    assert error.max() <= 0.15
    assert report["time_warp"]["mean_rate"] == pytest.approx(10 / 9, abs=0.01)


def test_noise_scores_high_and_a_different_dance_low(reference: Performance) -> None:
    rng = np.random.default_rng(7)
    noisy_lm = reference.landmarks.copy()
    noisy_lm[:, :, :2] += rng.normal(0, 0.003, noisy_lm[:, :, :2].shape)  # ~2-4 px
    noisy = Performance(reference.times, noisy_lm, 1280, 720, reference.angles, ANGLE_NAMES)
    high = compare_performances(reference, noisy)["similarity"]
    other = compare_performances(reference, dancer(seed=2))
    print("noise", high, "different", other["similarity"])
    assert high >= 90
    assert other["similarity"] < 60 and other["similarity"] <= high - 30
    assert other["joint_angle_differences"]["left_elbow"]["mean_abs_difference_deg"] > 5


def test_mirror(reference: Performance) -> None:
    copy = mirrored(reference)
    plain = compare_performances(reference, copy)["similarity"]
    report = compare_performances(reference, copy, mirror=True)
    print("mirrored copy", plain, "with mirror=True", report["similarity"])
    assert report["similarity"] >= 99 and plain < 70 and report["mirror"] is True
    assert report["joint_angle_differences"]["left_elbow"]["max_abs_difference_deg"] == 0.0


def test_translated_scaled_copy_in_another_frame(reference: Performance) -> None:
    pts = body(trajectories(reference.times, 1))
    small = performance(reference.times, pts, torso_px=70, centre=(450, 260), size=(640, 480))
    score = compare_performances(reference, small)["similarity"]
    print("translated/scaled", score)
    assert score >= 99


def test_frames_without_pose_lower_the_score_a_little(reference: Performance) -> None:
    lm = reference.landmarks.copy()
    lm[60:75] = np.nan
    lm[180:195] = np.nan
    lm[100:110, 15:17, 3] = 0.1  # wrists not visible: only the other points count
    gaps = Performance(reference.times, lm, 1280, 720, reference.angles, ANGLE_NAMES)
    report = compare_performances(reference, gaps)
    print("missing frames", report["similarity"])
    assert 85 <= report["similarity"] < 99


def test_worst_segment_is_the_corrupted_second(reference: Performance) -> None:
    pts = body(trajectories(reference.times, 1))
    pts[120:150] = body(trajectories(reference.times, 5))[120:150]  # 4-5 s danced differently
    report = compare_performances(reference, performance(reference.times, pts))
    worst = report["worst_segments"][0]
    print("corrupted second", report["similarity"], worst)
    assert worst["reference_start_s"] == 4.0 and worst["reference_end_s"] == 5.0
    assert worst["attempt_start_s"] == pytest.approx(4.0, abs=0.15)
    assert worst["attempt_end_s"] == pytest.approx(4.9, abs=0.15)
    assert worst["similarity"] < report["similarity"] - 20


def test_angle_differences_wrap() -> None:
    p = dancer(seconds=3.0)
    angles_a = np.full((len(p.times), 1), 350.0)
    angles_b = np.full((len(p.times), 1), 10.0)
    angles_b[:10] = np.nan
    a = Performance(p.times, p.landmarks, 1280, 720, angles_a, ("trunk",))
    b = Performance(p.times, p.landmarks, 1280, 720, angles_b, ("trunk",))
    diff = compare_performances(a, b)["joint_angle_differences"]["trunk"]
    assert diff["mean_abs_difference_deg"] == 20.0 and diff["frames"] > 0
    angles_b[:] = np.nan
    none = compare_performances(a, b)["joint_angle_differences"]["trunk"]
    assert none == {"mean_abs_difference_deg": None, "max_abs_difference_deg": None, "frames": 0}


def test_too_few_poses_is_a_value_error(reference: Performance) -> None:
    lm = np.full_like(reference.landmarks, np.nan)
    lm[:2] = reference.landmarks[:2]
    empty = Performance(reference.times, lm, 1280, 720, reference.angles, ANGLE_NAMES)
    with pytest.raises(ValueError, match="attempt has fewer than 3 frames with a pose"):
        compare_performances(reference, empty)


def test_durations_too_different_is_a_value_error(reference: Performance) -> None:
    with pytest.raises(ValueError, match="more than 2x"):
        compare_performances(reference, dancer(seconds=3.0))


def test_ten_minutes_stay_tractable() -> None:
    ref_times, att_times = frame_times(600.0), frame_times(600.0, fps=25.0)
    ref = performance(ref_times, body(trajectories(ref_times, 3)))
    att = performance(att_times, body(trajectories(att_times, 3)))
    start = time.perf_counter()
    report = compare_performances(ref, att)
    elapsed = time.perf_counter() - start
    rate = report["rate_hz"]
    print(f"10 min vs 10 min: {elapsed:.1f} s at {rate} Hz, similarity {report['similarity']}")
    assert elapsed < 30
    assert rate < 10 and (600 * rate + 1) ** 2 <= MAX_CELLS
    assert report["similarity"] >= 95

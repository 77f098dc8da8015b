"""Angles with Sports2D's conventions, on constructed poses whose angles are known exactly;
their ranges of motion on known series, on real footage and on the sample clip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.analysis.angles import (
    ANGLE_NAMES,
    DEFAULT_CUTOFF_HZ,
    DEFAULT_MAX_GAP_FRAMES,
    JOINT_ANGLE_NAMES,
    JOINT_PAIRS,
    LABEL_ANCHORS,
    SPORTS2D_NAMES,
    compute_angles,
    smooth_angles,
    summarize_angles,
    symmetry,
)
from pipeline.analysis.ranges import PLAUSIBLE_SPANS
from pipeline.runner import PipelineOptions, analyze_video
from tests.clips import SHARED_DATA, make_clip, shared_file

COL = {name: i for i, name in enumerate(ANGLE_NAMES)}

# Side view, facing right, in pixels (y down) of a 1000 x 1000 frame: right hip flexed 90 with
# the thigh horizontal and the shank vertical (knee 90), left leg straight, right elbow 90 with
# a horizontal forearm and a straight hand, left arm hanging straight, trunk and head vertical.
SIDE_POSE = {
    0: (500, 100),
    11: (500, 200), 12: (500, 200),
    13: (500, 300), 14: (500, 300),
    15: (500, 400), 16: (600, 300),
    19: (500, 450), 20: (650, 300),
    23: (500, 500), 24: (500, 500),
    25: (500, 600), 26: (600, 500),
    27: (500, 700), 28: (600, 600),
    29: (490, 710), 30: (590, 610),
    31: (550, 710), 32: (650, 610),
}  # fmt: skip

SIDE_EXPECTED = {
    "right_knee": 90, "left_knee": 0, "right_hip": 90, "left_hip": 0,
    "right_ankle": 0, "left_ankle": 0, "right_elbow": 90, "left_elbow": 0,
    "right_shoulder": 0, "left_shoulder": 0, "right_wrist": 0, "left_wrist": 0,
    "trunk": 90, "head": 90, "right_thigh": 0, "left_thigh": -90,
    "right_shank": -90, "left_shank": -90, "right_foot": 0, "left_foot": 0,
    "right_arm": -90, "left_arm": -90, "right_forearm": 0, "left_forearm": -90,
    "right_hand": 0, "left_hand": -90,
}  # fmt: skip


def frame(points: dict[int, tuple[float, float]], width: int, height: int) -> np.ndarray:
    """One (33, 4) landmark row from pixel coordinates; unlisted landmarks are invisible."""
    lm = np.zeros((33, 4))
    for idx, (x, y) in points.items():
        lm[idx] = (x / width, y / height, 0.0, 0.99)
    return lm


def mirrored(points: dict[int, tuple[float, float]], width: int) -> dict:
    return {k: (width - x, y) for k, (x, y) in points.items()}


def angles_of(points: dict, width: int = 1000, height: int = 1000, **kw) -> dict[str, float]:
    row = compute_angles(frame(points, width, height)[None], width, height, **kw)[0]
    return dict(zip(ANGLE_NAMES, row.tolist(), strict=True))


def test_public_constants() -> None:
    assert len(ANGLE_NAMES) == 28 and ANGLE_NAMES[:2] == ("right_ankle", "left_ankle")
    assert JOINT_ANGLE_NAMES == ANGLE_NAMES[:12]
    assert SPORTS2D_NAMES["right_ankle"] == "right ankle"
    assert SPORTS2D_NAMES["left_forearm"] == "left forearm"
    assert set(SPORTS2D_NAMES) == set(ANGLE_NAMES)
    assert ("knee", "left_knee", "right_knee") in JOINT_PAIRS
    assert all(left in ANGLE_NAMES and right in ANGLE_NAMES for _, left, right in JOINT_PAIRS)
    assert set(LABEL_ANCHORS) == set(JOINT_ANGLE_NAMES)
    assert LABEL_ANCHORS["right_knee"] == 26 and LABEL_ANCHORS["left_elbow"] == 13
    assert 0 < DEFAULT_CUTOFF_HZ < 15 and DEFAULT_MAX_GAP_FRAMES > 0


def test_side_pose_facing_right() -> None:
    got = angles_of(SIDE_POSE)
    for name, expected in SIDE_EXPECTED.items():
        assert got[name] == pytest.approx(expected, abs=1e-9), name


def test_mirrored_pose_facing_left_gives_the_same_angles() -> None:
    got = angles_of(mirrored(SIDE_POSE, 1000))
    for name, expected in SIDE_EXPECTED.items():
        assert got[name] == pytest.approx(expected, abs=1e-9), name


def test_without_flip_a_left_facing_pose_changes_sign() -> None:
    got = angles_of(mirrored(SIDE_POSE, 1000), flip_left_right=False)
    assert got["right_knee"] == pytest.approx(-90)
    assert got["right_elbow"] == pytest.approx(-90)
    assert got["trunk"] == pytest.approx(90)  # vertical stays vertical
    assert abs(got["right_forearm"]) == pytest.approx(180)  # forward is now -x


def test_facing_is_kept_when_feet_are_not_visible() -> None:
    left = mirrored(SIDE_POSE, 1000)
    no_feet = {k: v for k, v in left.items() if k not in (29, 30, 31, 32)}
    lm = np.stack([frame(no_feet, 1000, 1000), frame(left, 1000, 1000)])
    lm = np.concatenate([lm, lm[:1]])  # no feet, feet facing left, no feet again
    out = compute_angles(lm, 1000, 1000)
    knee = out[:, COL["right_knee"]]
    assert knee.tolist() == pytest.approx([-90, 90, 90])  # starts facing right, keeps left


def test_one_visible_foot_decides_facing() -> None:
    left = mirrored(SIDE_POSE, 1000)
    one_foot = {k: v for k, v in left.items() if k not in (29, 31)}
    assert angles_of(one_foot)["right_knee"] == pytest.approx(90)


def test_ankle_dorsiflexion_and_foot_segment() -> None:
    pose = dict(SIDE_POSE)
    heel = (490.0, 710.0)
    pose[29] = heel
    pose[31] = (heel[0] + 60 * math.cos(math.radians(30)), heel[1] - 30)  # toes up by 30 deg
    got = angles_of(pose)
    assert got["left_ankle"] == pytest.approx(30)
    assert got["left_foot"] == pytest.approx(30)


def test_pixel_space_on_a_non_square_frame() -> None:
    w, h = 1920, 1080
    pose = dict(SIDE_POSE)
    pose.update({12: (800, 400), 14: (900, 500), 16: (1000, 400), 20: (1050, 350)})
    got = angles_of(pose, w, h)
    assert got["right_forearm"] == pytest.approx(45)
    assert got["right_elbow"] == pytest.approx(90)
    assert got["right_wrist"] == pytest.approx(0, abs=1e-9)
    # the same landmarks read as if the frame were square give other angles
    wrong = angles_of({k: (x / w * 1000, y / h * 1000) for k, (x, y) in pose.items()})
    assert wrong["right_forearm"] == pytest.approx(math.degrees(math.atan(w / h)))
    assert wrong["right_elbow"] != pytest.approx(90, abs=1)


def test_front_view_pelvis_and_shoulders_tilt() -> None:
    pose = {
        11: (600, 200), 12: (400, 200 + 200 * math.tan(math.radians(10))),
        23: (550, 500), 24: (450, 500),
        0: (500, 100), 29: (550, 900), 31: (560, 900), 30: (450, 900), 32: (460, 900),
    }  # fmt: skip
    got = angles_of(pose)
    assert got["pelvis"] == pytest.approx(0, abs=1e-9)
    assert got["shoulders"] == pytest.approx(10)  # left shoulder higher
    # a pelvis seen the other way round stays in [-90, 90)
    pose[23], pose[24] = pose[24], pose[23]
    assert angles_of(pose)["pelvis"] == pytest.approx(0, abs=1e-9)


def test_invisible_landmark_and_empty_frame_give_nan() -> None:
    lm = np.stack([frame(SIDE_POSE, 1000, 1000)] * 2)
    lm[0, 26, 3] = 0.3  # right knee below the threshold
    lm[1] = np.nan
    out = compute_angles(lm, 1000, 1000)
    for name in ("right_knee", "right_hip", "right_ankle", "right_thigh", "right_shank"):
        assert np.isnan(out[0, COL[name]]), name
    assert out[0, COL["left_knee"]] == pytest.approx(0)
    assert out[0, COL["right_elbow"]] == pytest.approx(90)
    assert np.isnan(out[1]).all()
    assert out.shape == (2, len(ANGLE_NAMES)) and out.dtype == np.float64
    assert not np.isnan(compute_angles(lm, 1000, 1000, visibility_threshold=0.2)[0, 2])


def test_compute_angles_rejects_a_bad_shape() -> None:
    with pytest.raises(ValueError):
        compute_angles(np.zeros((3, 17, 4)), 100, 100)


def series(values: np.ndarray, col: str = "right_knee") -> np.ndarray:
    out = np.full((len(values), len(ANGLE_NAMES)), np.nan)
    out[:, COL[col]] = values
    return out


def test_smoothing_a_noisy_sine_keeps_amplitude_and_phase() -> None:
    fps = 60.0
    t = np.arange(600) / fps
    clean = 45 + 30 * np.sin(2 * np.pi * 1.0 * t)
    noisy = clean + np.random.default_rng(0).normal(0, 2, t.size)
    raw = series(noisy)
    before = raw.copy()
    smooth = smooth_angles(raw, fps)[:, COL["right_knee"]]
    np.testing.assert_array_equal(raw, before)  # input untouched
    inner = slice(30, -30)
    assert np.sqrt(np.mean((smooth - clean)[inner] ** 2)) < 0.8
    # amplitude and phase of the 1 Hz component, by projection on sin and cos
    wave = smooth[inner] - 45
    sin_part = 2 * np.mean(wave * np.sin(2 * np.pi * t[inner]))
    cos_part = 2 * np.mean(wave * np.cos(2 * np.pi * t[inner]))
    assert math.hypot(sin_part, cos_part) == pytest.approx(30, abs=0.3)
    assert math.degrees(math.atan2(cos_part, sin_part)) == pytest.approx(0, abs=0.5)
    lags = range(-10, 11)
    errors = [np.mean((np.roll(smooth, k) - clean)[inner] ** 2) for k in lags]
    assert list(lags)[int(np.argmin(errors))] == 0  # zero phase: no lag
    assert np.isnan(smooth_angles(raw, fps)[:, 0]).all()  # empty columns stay empty


def test_short_gap_is_filled_long_gap_and_ends_stay_nan() -> None:
    ramp = np.linspace(0, 60, 120)
    values = ramp.copy()
    values[:3] = np.nan
    values[40:45] = np.nan  # 5 frames
    values[70 : 70 + DEFAULT_MAX_GAP_FRAMES + 5] = np.nan
    out = smooth_angles(series(values), 30.0)[:, COL["right_knee"]]
    assert np.isnan(out[:3]).all()
    assert out[40:45] == pytest.approx(ramp[40:45], abs=1e-3)
    assert np.isnan(out[70:85]).all()
    assert out[3:70] == pytest.approx(ramp[3:70], abs=1e-3)
    assert out[85:] == pytest.approx(ramp[85:], abs=1e-3)


def test_a_run_too_short_for_the_filter_is_left_as_is() -> None:
    values = np.full(40, np.nan)
    values[10:16] = [1.0, 5.0, 2.0, 8.0, 3.0, 4.0]
    out = smooth_angles(series(values), 30.0)[:, COL["right_knee"]]
    assert out[10:16] == pytest.approx(values[10:16])


def test_an_angle_crossing_180_is_not_smeared() -> None:
    unwrapped = np.linspace(150, 210, 90)
    wrapped = (unwrapped + 180) % 360 - 180
    values = wrapped.copy()
    values[44:47] = np.nan  # the gap straddles the crossing
    out = smooth_angles(series(values, "right_forearm"), 30.0)[:, COL["right_forearm"]]
    diff = (out - wrapped + 180) % 360 - 180
    assert np.abs(diff).max() < 0.1
    assert np.all((out >= -180) & (out < 180))


def test_low_frame_rate_clamps_the_cutoff() -> None:
    values = 10 * np.sin(np.arange(100) / 3)
    out = smooth_angles(series(values), 8.0, cutoff_hz=6.0)
    assert np.isfinite(out[:, COL["right_knee"]]).all()


def ramp_range(low: float, high: float) -> float:
    """The 5th-95th percentile spread of evenly spaced values from low to high."""
    return 0.9 * (high - low)


def test_summary_on_known_values() -> None:
    angles = np.full((42, len(ANGLE_NAMES)), np.nan)
    angles[:41, COL["right_knee"]] = np.linspace(10, 50, 41)  # 1 degree a frame; then unknown
    angles[:41, COL["right_forearm"]] = wrapped(np.linspace(170, 190, 41))  # across 180
    summary = summarize_angles(angles, fps=10.0)
    assert summary["right_knee"] == {
        "min": 12.0,  # the 5th and 95th percentiles of 10..50, not its extremes
        "max": 48.0,
        "range_of_motion": 36.0,
        "mean": 30.0,
        "range_frames": 41,
        "implausible_frames": 0,
        "implausible": False,
        "range_note": None,
        "mean_abs_velocity_deg_s": 10.0,
        "valid_frames": 41,
    }
    forearm = summary["right_forearm"]
    assert forearm["range_of_motion"] == pytest.approx(ramp_range(170, 190))
    assert (forearm["min"], forearm["max"]) == pytest.approx((171, 189))
    assert forearm["mean_abs_velocity_deg_s"] == pytest.approx(5)
    assert abs(forearm["mean"]) == pytest.approx(180)
    assert forearm["implausible"] is None  # a segment has no anatomical span
    assert summary["left_knee"] == {
        "min": None,
        "max": None,
        "range_of_motion": None,
        "mean": None,
        "range_frames": 0,
        "implausible_frames": 0,
        "implausible": False,
        "range_note": "never measured: its points were never visible",
        "mean_abs_velocity_deg_s": None,
        "valid_frames": 0,
    }
    assert set(summary) == set(ANGLE_NAMES)


def wrapped(values: np.ndarray) -> np.ndarray:
    return (values + 180) % 360 - 180


def test_a_range_is_taken_where_the_angle_was_measured_not_where_gaps_were_filled() -> None:
    smooth = np.full((60, len(ANGLE_NAMES)), np.nan)
    smooth[:, COL["right_knee"]] = np.concatenate([np.linspace(20, 40, 30), np.full(30, 100)])
    known = np.zeros_like(smooth, dtype=bool)
    known[:30, COL["right_knee"]] = True  # the last 30 frames: filled in, not seen
    knee = summarize_angles(smooth, fps=30.0, known=known)["right_knee"]
    assert knee["range_of_motion"] == pytest.approx(ramp_range(20, 40))
    assert knee["range_frames"] == 30 and knee["valid_frames"] == 60
    assert summarize_angles(smooth, fps=30.0)["right_knee"]["max"] == 100  # unmasked


def test_an_elbow_whose_sign_flips_with_the_view_keeps_its_flexion_range() -> None:
    # 20 -> 120 -> 20 degrees of flexion, seen from either side as the facing flips every
    # 7 frames, and folded across 180 on the way: Sports2D's signed angle jumps about
    flexion = np.concatenate([np.linspace(20, 120, 50), np.linspace(120, 20, 50)])
    side = np.where((np.arange(100) // 7) % 2 == 0, 1.0, -1.0)
    angles = series(flexion * side, "right_elbow")
    angles[:, COL["left_elbow"]] = wrapped(180 - (flexion[::-1] - 20) / 4 * side)  # 155..180
    summary = summarize_angles(angles, fps=30.0)
    elbow = summary["right_elbow"]
    assert np.ptp(angles[:, COL["right_elbow"]]) > 230  # what max - min said
    low, high = np.percentile(flexion, [5, 95])  # about 25 and 115
    assert elbow["range_of_motion"] == pytest.approx(high - low, abs=0.01)
    assert (elbow["min"], elbow["max"]) == pytest.approx((low, high), abs=0.01)
    assert elbow["implausible_frames"] == 0 and elbow["range_note"] is None
    assert symmetry(angles, fps=30.0)["elbow"]["right_range"] == elbow["range_of_motion"]
    # an elbow "flexed" 155..180 in every frame is beyond its span: no range, and why
    folded = summary["left_elbow"]
    assert folded["range_of_motion"] is None and folded["implausible"] is True
    assert folded["implausible_frames"] == 100
    assert folded["range_note"].startswith("implausible: beyond 0..150 degrees in 100 of 100")


def test_outliers_do_not_widen_a_range() -> None:
    knee = np.linspace(30, 90, 100)
    jittery = knee.copy()
    jittery[[10, 50, 80]] = [150, 0, 140]  # three misplaced points, all within the span
    elbow = np.linspace(30, 90, 100)
    elbow[[5, 25, 45, 65, 85]] = 175  # beyond any elbow: left out
    angles = series(jittery)
    angles[:, COL["right_elbow"]] = elbow
    summary = summarize_angles(angles, fps=30.0)
    assert summary["right_knee"]["range_of_motion"] == pytest.approx(ramp_range(30, 90), abs=2)
    assert summary["right_elbow"]["range_of_motion"] == pytest.approx(ramp_range(30, 90), abs=3)
    assert summary["right_elbow"]["implausible_frames"] == 5
    assert summary["right_elbow"]["implausible"] is False  # 5 %: left out, not flagged
    assert summary["right_elbow"]["range_frames"] == 95


def test_too_few_frames_give_no_range_and_say_why() -> None:
    values = np.full(100, np.nan)
    values[:19] = np.linspace(0, 90, 19)
    short = summarize_angles(series(values), fps=10.0)["right_knee"]
    assert short["range_of_motion"] is None and short["min"] is None and short["mean"] is None
    assert short["range_frames"] == 19
    assert short["range_note"] == "too few frames: 19 usable frames (1.90 s), a range needs 20"
    values[:25] = np.linspace(0, 90, 25)  # 25 frames, but under a second at 30 fps
    brief = summarize_angles(series(values), fps=30.0)["right_knee"]
    assert brief["range_note"] == "too few frames: 25 usable frames (0.83 s), a range needs 30"
    assert symmetry(series(values), fps=30.0)["knee"]["right_range"] is None
    values[:30] = np.linspace(0, 90, 30)
    assert summarize_angles(series(values), fps=30.0)["right_knee"]["range_note"] is None


def test_the_wrap_cannot_inflate_a_range() -> None:
    t = np.arange(90)
    turning = 180 + 15 * np.sin(t / 5)  # a forearm pointing back, to and fro across +-180
    angles = series(wrapped(turning), "right_forearm")
    angles[:, COL["pelvis"]] = (80 + 20 * np.sin(t / 5) + 90) % 180 - 90  # across +-90
    angles[:, COL["right_ankle"]] = wrapped(5 + 10 * np.sin(t / 5) + 360)
    summary = summarize_angles(angles, fps=30.0)
    spread = np.ptp(np.percentile(15 * np.sin(t / 5), [5, 95]))
    assert summary["right_forearm"]["range_of_motion"] == pytest.approx(spread, abs=0.01)
    assert summary["pelvis"]["range_of_motion"] == pytest.approx(spread * 20 / 15, abs=0.01)
    assert summary["right_ankle"]["range_of_motion"] == pytest.approx(spread * 10 / 15, abs=0.01)
    forearm = summary["right_forearm"]
    assert forearm["max"] - forearm["min"] == pytest.approx(spread, abs=0.02)
    assert 180 - spread / 2 - 0.1 < forearm["max"] < 180 + spread / 2 + 0.1
    # however the values scatter, a joint range stays within its span, a segment under a turn
    scattered = np.random.default_rng(1).uniform(-180, 180, (200, len(ANGLE_NAMES)))
    for name, stats in summarize_angles(scattered, fps=30.0).items():
        assert stats["range_of_motion"] is None or stats["range_of_motion"] < 360, name
    for name in JOINT_ANGLE_NAMES:
        stats = summarize_angles(scattered, fps=30.0)[name]
        low, high = PLAUSIBLE_SPANS[name.split("_", 1)[1]]
        assert stats["range_of_motion"] is None or stats["range_of_motion"] <= high - low


def test_symmetry_on_known_series() -> None:
    n = 41
    angles = np.full((n + 1, len(ANGLE_NAMES)), np.nan)
    angles[:n, COL["left_knee"]] = np.linspace(0, 60, n)
    angles[:n, COL["right_knee"]] = np.linspace(0, 30, n)
    angles[:, COL["left_elbow"]] = np.linspace(10, 60, n + 1)
    angles[:, COL["right_elbow"]] = np.linspace(60, 10, n + 1)
    angles[:, COL["left_hip"]] = 5.0
    angles[:, COL["right_hip"]] = np.linspace(1, 6, n + 1)
    angles[:2, COL["left_ankle"]] = [1, 2]
    angles[:2, COL["right_ankle"]] = [3, 4]
    result = symmetry(angles, fps=10.0)
    assert set(result) == {joint for joint, _, _ in JOINT_PAIRS}
    knee = result["knee"]
    assert knee["left_range"] == pytest.approx(ramp_range(0, 60))
    assert knee["right_range"] == pytest.approx(ramp_range(0, 30))
    assert knee["range_ratio"] == pytest.approx(0.5)
    assert knee["mean_abs_difference"] == pytest.approx(15)
    assert knee["correlation"] == pytest.approx(1.0)
    assert result["elbow"]["correlation"] == pytest.approx(-1.0)
    assert result["elbow"]["range_ratio"] == pytest.approx(1.0)
    assert result["hip"]["correlation"] is None  # constant left series
    assert result["hip"]["range_ratio"] == pytest.approx(0.0)
    assert result["ankle"]["correlation"] is None  # fewer than 3 frames
    assert result["ankle"]["mean_abs_difference"] == pytest.approx(2)
    assert result["ankle"]["left_range"] is None  # and too few for a range
    assert result["wrist"] == {
        "left_range": None,
        "right_range": None,
        "range_ratio": None,
        "mean_abs_difference": None,
        "correlation": None,
    }
    summary = summarize_angles(angles, fps=10.0)
    for joint, left, right in JOINT_PAIRS:  # the same ranges as the summary's
        assert result[joint]["left_range"] == summary[left]["range_of_motion"], joint
        assert result[joint]["right_range"] == summary[right]["range_of_motion"], joint


def assert_plausible(summary: dict) -> None:
    """Every joint's range lies within its anatomical span, or is null with its reason."""
    for name in JOINT_ANGLE_NAMES:
        stats = summary[name]
        low, high = PLAUSIBLE_SPANS[name.split("_", 1)[1]]
        if stats["range_of_motion"] is None:
            assert stats["range_note"], name
            continue
        assert low <= stats["min"] <= stats["max"] <= high, (name, stats)
        assert stats["range_of_motion"] == pytest.approx(stats["max"] - stats["min"], abs=0.02)
        assert stats["implausible"] is False and stats["range_note"] is None, name


@pytest.mark.shared_data
def test_every_joint_range_on_real_footage_is_anatomically_plausible(tmp_path) -> None:
    # two dancers filmed from the front on a phone; before, elbows 335 and 341 degrees
    video = shared_file(SHARED_DATA / "dancers" / "pair_phone.mp4")
    result = analyze_video(video, tmp_path / "out", PipelineOptions(exports=()))
    summary = json.loads(result.analysis_path.read_text())["angles"]["summary"]
    assert_plausible(summary)
    ranged = [name for name in JOINT_ANGLE_NAMES if summary[name]["range_of_motion"] is not None]
    assert len(ranged) >= 10, ranged  # the feet, seen end on, may have none
    for name in ("right_elbow", "left_elbow", "right_shoulder", "left_shoulder"):
        assert 30 < summary[name]["range_of_motion"] < 150, (name, summary[name])
    assert result.analysis is not None
    assert result.analysis["ranges_of_motion"] == {
        name: summary[name]["range_of_motion"] for name in JOINT_ANGLE_NAMES
    }


def test_the_sample_clip_hip_out_of_the_picture_has_no_impossible_range(tmp_path) -> None:
    # `dance-analyzer sample`'s clip: the astronaut's upper body; BlazePose guesses her hips
    # and knees below it (before: right hip 45 to 290 degrees, range 244)
    clip = make_clip(
        tmp_path / "sample.mp4", width=640, height=480, frames=60, fps=15, audio=True, beat_bpm=120
    )
    result = analyze_video(clip, tmp_path / "out", PipelineOptions(exports=()))
    summary = json.loads(result.analysis_path.read_text())["angles"]["summary"]
    assert_plausible(summary)
    hip = summary["right_hip"]
    assert hip["range_of_motion"] is None or hip["range_of_motion"] < 90, hip

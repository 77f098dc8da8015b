"""2D joint and segment angles from BlazePose landmarks, with Sports2D's conventions.

Conventions follow Sports2D v0.8.34 (`Sports2D/process.py`: `compute_angles_for_person`,
`compute_angle`) and the Pose2Sim code it imports (Pose2Sim v0.10.49, `Pose2Sim/common.py`:
`angle_dict`, `points_to_angles`, `fixed_angles`; `Pose2Sim/filtering.py`:
`butterworth_filter_1d`). Coordinates are pixels with image y pointing down, as in Sports2D.

- 2 points (a, b): segment angle = atan2(v_y, v_x) of v = a - b.
- 3 points (a, b, c): u = a - b, v = c - b; 4 points (a, b, c, d): u = b - a, v = d - c;
  joint angle = -atan2(cross(u, v), dot(u, v)).
- Then angle = (angle + offset) * scale, wrapped to [-180, 180) ([-90, 90) for pelvis and
  shoulders) with (a + p/2) % p - p/2.
- Facing: per frame, (RBigToe.x - RHeel.x) + (LBigToe.x - LHeel.x) >= 0 means facing right;
  facing left negates every x before any angle, so flexion keeps its sign.
- Names: BigToe = foot_index, Heel = heel, Index = index, Neck = mid-shoulders,
  Hip = mid-hips.

Deliberate differences from Sports2D:
- Head = the nose (0). Pose2Sim's BLAZEPOSE skeleton has no Head keypoint, so Sports2D skips
  the head angle for BlazePose; the nose is the closest BlazePose point to it.
- Left wrist uses (LElbow, LWrist, LIndex), the mirror of the right wrist. Pose2Sim lists
  (LElbow, LIndex, LWrist), which puts the vertex on the index finger (a typo, it seems).
- Facing when a foot is not visible: Sports2D's sum becomes NaN and the frame counts as facing
  left. Here only visible feet count; with no visible foot the previous frame's facing is
  kept (the first frames face right).
- A landmark counts when visibility >= `visibility_threshold` (0.5; Sports2D: 0.3 likelihood).
- Smoothing unwraps with the angle's own period (360, or 180 for pelvis/shoulders; Sports2D
  unwraps every angle with period 180), fills gaps up to 10 frames (Sports2D: 100) and wraps
  results back into the ranges above. Larger gaps stay NaN (Sports2D's default fills them
  with the last value).
- Summaries (min, max, range of motion, mean) are robust ranges over the frames where the
  angle was measured, on the flexion's magnitude for the joints a change of facing negates
  (`pipeline.analysis.ranges`); Sports2D reports none.
- Only 'auto' facing (or none); no 'front'/'back' mode and no floor-tilt correction of
  segment angles (Sports2D subtracts the estimated floor angle when converting to metres).
"""

from __future__ import annotations

import numpy as np

from pipeline.analysis import ranges
from pipeline.smoothing import DEFAULT_CUTOFF_HZ, DEFAULT_MAX_GAP_FRAMES, lowpass, wrap

ANGLE_NAMES: tuple[str, ...] = (
    "right_ankle", "left_ankle", "right_knee", "left_knee", "right_hip", "left_hip",
    "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist", "left_wrist",
    "right_foot", "left_foot", "right_shank", "left_shank", "right_thigh", "left_thigh",
    "pelvis", "trunk", "shoulders", "head", "right_arm", "left_arm", "right_forearm",
    "left_forearm", "right_hand", "left_hand",
)  # fmt: skip
JOINT_ANGLE_NAMES: tuple[str, ...] = ANGLE_NAMES[:12]
SPORTS2D_NAMES: dict[str, str] = {name: name.replace("_", " ") for name in ANGLE_NAMES}
JOINT_PAIRS: tuple[tuple[str, str, str], ...] = tuple(
    (joint, f"left_{joint}", f"right_{joint}")
    for joint in (
        "ankle", "knee", "hip", "shoulder", "elbow", "wrist",
        "foot", "shank", "thigh", "arm", "forearm", "hand",
    )
)  # fmt: skip
LABEL_ANCHORS: dict[str, int] = {
    "right_ankle": 28, "left_ankle": 27, "right_knee": 26, "left_knee": 25,
    "right_hip": 24, "left_hip": 23, "right_shoulder": 12, "left_shoulder": 11,
    "right_elbow": 14, "left_elbow": 13, "right_wrist": 16, "left_wrist": 15,
}  # fmt: skip

# Sports2D keypoint name -> BlazePose landmark index (or the pair averaged into a midpoint).
_KEYPOINTS: dict[str, tuple[int, ...]] = {
    "Head": (0,), "Neck": (11, 12), "Hip": (23, 24),
    "LShoulder": (11,), "RShoulder": (12,), "LElbow": (13,), "RElbow": (14,),
    "LWrist": (15,), "RWrist": (16,), "LIndex": (19,), "RIndex": (20,),
    "LHip": (23,), "RHip": (24,), "LKnee": (25,), "RKnee": (26,),
    "LAnkle": (27,), "RAnkle": (28,), "LHeel": (29,), "RHeel": (30,),
    "LBigToe": (31,), "RBigToe": (32,),
}  # fmt: skip

# name -> (Sports2D points, offset, scale); from Pose2Sim's angle_dict.
_SPECS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "right_ankle": (("RKnee", "RAnkle", "RBigToe", "RHeel"), 90, 1),
    "left_ankle": (("LKnee", "LAnkle", "LBigToe", "LHeel"), 90, 1),
    "right_knee": (("RAnkle", "RKnee", "RHip"), -180, 1),
    "left_knee": (("LAnkle", "LKnee", "LHip"), -180, 1),
    "right_hip": (("RKnee", "RHip", "Hip", "Neck"), 0, -1),
    "left_hip": (("LKnee", "LHip", "Hip", "Neck"), 0, -1),
    "right_shoulder": (("RElbow", "RShoulder", "Hip", "Neck"), 0, -1),
    "left_shoulder": (("LElbow", "LShoulder", "Hip", "Neck"), 0, -1),
    "right_elbow": (("RWrist", "RElbow", "RShoulder"), 180, -1),
    "left_elbow": (("LWrist", "LElbow", "LShoulder"), 180, -1),
    "right_wrist": (("RElbow", "RWrist", "RIndex"), -180, 1),
    "left_wrist": (("LElbow", "LWrist", "LIndex"), -180, 1),
    "right_foot": (("RBigToe", "RHeel"), 0, -1),
    "left_foot": (("LBigToe", "LHeel"), 0, -1),
    "right_shank": (("RAnkle", "RKnee"), 0, -1),
    "left_shank": (("LAnkle", "LKnee"), 0, -1),
    "right_thigh": (("RKnee", "RHip"), 0, -1),
    "left_thigh": (("LKnee", "LHip"), 0, -1),
    "pelvis": (("LHip", "RHip"), 0, -1),
    "trunk": (("Neck", "Hip"), 0, -1),
    "shoulders": (("LShoulder", "RShoulder"), 0, -1),
    "head": (("Head", "Neck"), 0, -1),
    "right_arm": (("RElbow", "RShoulder"), 0, -1),
    "left_arm": (("LElbow", "LShoulder"), 0, -1),
    "right_forearm": (("RWrist", "RElbow"), 0, -1),
    "left_forearm": (("LWrist", "LElbow"), 0, -1),
    "right_hand": (("RIndex", "RWrist"), 0, -1),
    "left_hand": (("LIndex", "LWrist"), 0, -1),
}
# Period of each column: pelvis and shoulders are axial (wrapped to [-90, 90)).
_PERIODS = np.array([180.0 if n in ("pelvis", "shoulders") else 360.0 for n in ANGLE_NAMES])


def _facing_sign(xy: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """+1 (facing right) or -1 (left) per frame, from toe-minus-heel x of the visible feet."""
    sign = np.ones(len(xy))
    current = 1.0
    for t in range(len(xy)):
        total, seen = 0.0, False
        for toe, heel in ((32, 30), (31, 29)):
            if ok[t, toe] and ok[t, heel]:
                total += xy[t, toe, 0] - xy[t, heel, 0]
                seen = True
        if seen:
            current = 1.0 if total >= 0 else -1.0
        sign[t] = current
    return sign


def _joint(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    dot = u[:, 0] * v[:, 0] + u[:, 1] * v[:, 1]
    return -np.degrees(np.arctan2(cross, dot))


def compute_angles(
    landmarks: np.ndarray,
    width: int,
    height: int,
    *,
    visibility_threshold: float = 0.5,
    flip_left_right: bool = True,
) -> np.ndarray:
    """(T, 33, 4) -> (T, len(ANGLE_NAMES)) float64 degrees, NaN where unknown."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 4):
        raise ValueError(f"landmarks must have shape (T, 33, 4), got {lm.shape}")
    xy = lm[:, :, :2] * np.array([float(width), float(height)])
    with np.errstate(invalid="ignore"):
        ok = (lm[:, :, 3] >= visibility_threshold) & np.isfinite(xy).all(axis=2)
    if flip_left_right:
        xy[:, :, 0] *= _facing_sign(xy, ok)[:, None]

    def point(name: str) -> tuple[np.ndarray, np.ndarray]:
        idx = list(_KEYPOINTS[name])
        return xy[:, idx].mean(axis=1), ok[:, idx].all(axis=1)

    out = np.full((len(lm), len(ANGLE_NAMES)), np.nan)
    for col, name in enumerate(ANGLE_NAMES):
        names, offset, scale = _SPECS[name]
        pts, valid = zip(*(point(n) for n in names), strict=True)
        if len(pts) == 2:
            seg = pts[0] - pts[1]
            raw = np.degrees(np.arctan2(seg[:, 1], seg[:, 0]))
        elif len(pts) == 3:
            raw = _joint(pts[0] - pts[1], pts[2] - pts[1])
        else:
            raw = _joint(pts[1] - pts[0], pts[3] - pts[2])
        mask = np.logical_and.reduce(valid)
        out[mask, col] = wrap((raw[mask] + offset) * scale, _PERIODS[col])
    return out


def _unwrapped(values: np.ndarray, period: float) -> np.ndarray:
    """Unwrap a series without NaN; shift it so that its mean lies in range (like Sports2D)."""
    u = np.unwrap(values, period=period)
    return u - period * np.round(u.mean() / period)


def smooth_angles(
    raw: np.ndarray,
    fps: float,
    *,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
    max_gap_frames: int = DEFAULT_MAX_GAP_FRAMES,
) -> np.ndarray:
    """Fill short gaps, then zero-phase Butterworth low-pass each valid run of each column
    (`pipeline.smoothing.lowpass`, each angle unwrapped with its own period)."""
    periods = _PERIODS if raw.shape[1] == len(ANGLE_NAMES) else np.full(raw.shape[1], 360.0)
    return lowpass(raw, fps, cutoff_hz=cutoff_hz, max_gap_frames=max_gap_frames, periods=periods)


def _r(value: float) -> float:
    return round(float(value), 2)


def _joint_of(name: str) -> str | None:
    """ "elbow" for "right_elbow"; None for a segment angle."""
    return name.split("_", 1)[1] if name in JOINT_ANGLE_NAMES else None


def _measured(angles: np.ndarray, known: np.ndarray | None, col: int) -> np.ndarray:
    """The column's values in the frames where the angle was measured: `known` (the raw
    angle's frames, its points visible) when given, else wherever it is finite. The
    smoothed series also holds the gaps it filled: they are no measurement."""
    series = angles[:, col]
    mask = np.isfinite(series) if known is None else known[:, col] & np.isfinite(series)
    return series[mask]


def summarize_angles(
    angles: np.ndarray, fps: float, *, known: np.ndarray | None = None
) -> dict[str, dict]:
    """Per angle: its range of motion (`pipeline.analysis.ranges.range_of_motion`: `min`,
    `max`, `range_of_motion`, `mean`, `range_frames`, `implausible_frames`, `implausible`,
    `range_note`) over the frames `known` (where the raw angle is known), and over the
    whole series `mean_abs_velocity_deg_s` and `valid_frames`."""
    out: dict[str, dict] = {}
    for col, name in enumerate(ANGLE_NAMES):
        series, period = angles[:, col], _PERIODS[col]
        stats = ranges.range_of_motion(
            _measured(angles, known, col), fps, joint=_joint_of(name), period=period
        )
        finite = np.isfinite(series)
        stats["mean_abs_velocity_deg_s"] = None
        stats["valid_frames"] = int(finite.sum())
        pairs = finite[1:] & finite[:-1]
        if pairs.any():
            step = wrap(np.diff(series)[pairs], period)
            stats["mean_abs_velocity_deg_s"] = _r(np.abs(step).mean() * fps)
        out[name] = stats
    return out


def symmetry(angles: np.ndarray, fps: float, *, known: np.ndarray | None = None) -> dict[str, dict]:
    """Per left/right pair: ranges (as `summarize_angles`), range ratio, mean absolute
    difference, correlation."""
    out: dict[str, dict] = {}
    for joint, left, right in JOINT_PAIRS:
        li, ri = ANGLE_NAMES.index(left), ANGLE_NAMES.index(right)
        period = _PERIODS[li]
        ls, rs = angles[:, li], angles[:, ri]
        lr, rr = (
            ranges.range_of_motion(
                _measured(angles, known, col), fps, joint=_joint_of(name), period=period
            )["range_of_motion"]
            for col, name in ((li, left), (ri, right))
        )
        ratio = None
        if lr is not None and rr is not None:
            ratio = 1.0 if max(lr, rr) == 0 else min(lr, rr) / max(lr, rr)
        both = np.isfinite(ls) & np.isfinite(rs)
        diff = corr = None
        if both.any():
            diff = _r(np.abs(wrap(ls[both] - rs[both], period)).mean())
        if both.sum() >= 3:
            lu, ru = _unwrapped(ls[both], period), _unwrapped(rs[both], period)
            if np.ptp(lu) > 1e-9 and np.ptp(ru) > 1e-9:
                corr = _r(np.corrcoef(lu, ru)[0, 1])
        out[joint] = {
            "left_range": lr,
            "right_range": rr,
            "range_ratio": None if ratio is None else _r(ratio),
            "mean_abs_difference": diff,
            "correlation": corr,
        }
    return out

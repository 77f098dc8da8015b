"""Ranges of motion of the 2D angles: robust, unwrapped, checked against anatomy.

A range is the spread from the 5th to the 95th percentile of an angle over the frames where
it was measured (its points visible), never max minus min: a few misplaced points do not
widen it, and the 0/360 wrap does not split it.

- The joints a change of facing negates (knee, hip, shoulder, elbow, wrist: Sports2D mirrors
  x when the toes point left, and seen from the front the toes point either way from frame
  to frame): the range is taken on the magnitude |angle|, the bend away from neutral on
  whichever side the image shows it. Pose2Sim's model bends the knee and the elbow one way
  only (0..155, 0..150): their sign in 2D is the side they are seen from. An elbow folded
  flat in the image reads near +-180 and crosses from one to the other; its magnitude does
  not jump.
- The ankle (a change of facing maps it to 180 - angle, far beyond its span) and the
  segment angles keep their sign, each value placed within half a turn of the angle's
  circular mean.
- `PLAUSIBLE_SPANS`: the clamped coordinate ranges of Pose2Sim's OpenSim model
  (`Model_Pose2Sim_simple.osim`); the shoulder, which that model leaves unclamped, from the
  AAOS normal values (flexion and abduction to 180). A frame beyond its span (a forearm
  pointing at the camera folds the 2D elbow towards 180, a foot pointing at it reads as a
  pointed foot, a facing taken the wrong way round turns an ankle's 10 into 170) is left
  out; when more than a quarter of the frames are, the range is null and `implausible`.
- Under 20 frames (5 % of 20 is one frame: with fewer the percentiles are the extremes) or
  one second of frames, the range is null; `range_note` says why.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.smoothing import wrap

PERCENTILES: tuple[float, float] = (5.0, 95.0)
MIN_FRAMES: int = 20
MIN_SECONDS: float = 1.0
MAX_IMPLAUSIBLE_SHARE: float = 0.25

# Joint -> (lowest, highest) plausible value, in the quantity the range is taken on: the
# magnitude for the joints a change of facing negates, the signed angle for the ankle.
PLAUSIBLE_SPANS: dict[str, tuple[float, float]] = {
    "ankle": (-60.0, 60.0),  # ankle_angle -60..60 (dorsiflexion +)
    "knee": (0.0, 155.0),  # knee_angle 0..155
    "hip": (0.0, 150.0),  # hip_flexion -50..150: the flexion side bounds the magnitude
    "shoulder": (0.0, 180.0),  # AAOS: flexion 180, abduction 180, extension 60
    "elbow": (0.0, 150.0),  # elbow_flex 0..150
    "wrist": (0.0, 110.0),  # wrist_flex -110..110
}
MAGNITUDE_JOINTS: frozenset[str] = frozenset({"knee", "hip", "shoulder", "elbow", "wrist"})


def _r(value: float) -> float:
    return round(float(value), 2)


def centred(values: np.ndarray, period: float) -> np.ndarray:
    """Each value within half a period of the values' circular mean: the angle unwrapped
    about its mean direction, so a series around 180 is not split into -180 and 180."""
    phase = values * (2 * math.pi / period)
    centre = math.atan2(float(np.sin(phase).mean()), float(np.cos(phase).mean()))
    centre *= period / (2 * math.pi)
    return centre + wrap(values - centre, period)


def range_of_motion(
    values: np.ndarray, fps: float, *, joint: str | None = None, period: float = 360.0
) -> dict[str, Any]:
    """The range of an angle over the frames where it was measured (`values`: one per such
    frame, degrees; NaN are ignored). `joint` ("elbow", ...) for a joint angle, None for a
    segment angle. Returns `min` and `max` (the 5th and 95th percentiles), `mean`,
    `range_of_motion` (max - min), all four null when `range_note` says why;
    `implausible_frames` (left out, beyond the joint's span) and `implausible` (more than a
    quarter of them), null for a segment angle; `range_frames`, the frames left."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    span = PLAUSIBLE_SPANS.get(joint) if joint else None
    if joint in MAGNITUDE_JOINTS:
        values = np.abs(wrap(values, period))
    elif span is not None:
        values = wrap(values, period)
    elif values.size:
        values = centred(values, period)
    kept = values
    out: dict[str, Any] = dict.fromkeys(("min", "max", "range_of_motion", "mean"))
    out.update(implausible_frames=None, implausible=None)
    if span is not None:
        beyond = (values < span[0]) | (values > span[1])
        kept = values[~beyond]
        out["implausible_frames"] = int(beyond.sum())
        out["implausible"] = bool(values.size and beyond.mean() > MAX_IMPLAUSIBLE_SHARE)
    out.update(range_frames=int(kept.size), range_note=None)
    needed = max(MIN_FRAMES, math.ceil(MIN_SECONDS * fps))
    usable = f"{values.size} usable frames ({values.size / fps:.2f} s)"
    if values.size == 0:
        out["range_note"] = "never measured: its points were never visible"
    elif values.size < needed:
        out["range_note"] = f"too few frames: {usable}, a range needs {needed}"
    elif out["implausible"]:
        low, high = span or (0.0, 0.0)
        out["range_note"] = (
            f"implausible: beyond {low:g}..{high:g} degrees in "
            f"{out['implausible_frames']} of {usable}"
        )
    elif kept.size < needed:
        out["range_note"] = f"too few plausible frames: {kept.size} of {usable}"
    if out["range_note"] is not None:
        return out
    low, high = np.percentile(kept, PERCENTILES)
    shift = 0.0 if span is not None else period * math.floor(low / period + 0.5)
    out.update(
        min=_r(low - shift),
        max=_r(high - shift),
        range_of_motion=_r(high - low),
        mean=_r(kept.mean() - shift),
    )
    return out

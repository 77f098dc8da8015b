"""Scores of an aligned attempt, by dimension, and the judgement of each beat.

- **Pose** (how close the shapes are). A reference frame and its attempt frame on the path
  are *compared* when both have a pose; their distance d is the mean bone-vector distance
  (body scales), averaged over the compared pairs within `SMOOTH_S` around it (a move, not a
  single frame: one frame where BlazePose slipped does not count as a wrong move). Its score
  is 100 at d <= `POSE_FULL` (what the same performance filmed twice differs by: landmark
  jitter, compression, another camera), 0 at d >= `POSE_ZERO` (another dance), linear in
  between. The pose score is the mean over compared frames; frames where either side has no
  pose are left out, not charged.
- **Timing** (how well in time), only when both soundtracks carry the same music
  (`soundtrack.align_music`): for each compared frame, the attempt's time on the path minus
  the time at which the attempt's soundtrack plays the reference's music of that frame:
  positive means late. Each beat's offset is the mean over its frames, weighted by how fast
  the reference moves there (a held pose has no timing). A beat scores 100 within
  `ON_TIME_S`, 0 at `TIMING_ZERO_S`, linear in between; the timing score is their mean,
  weighted by movement. Without music, the offsets are taken against the attempt's own
  steady tempo (a straight line through its path): rushing and dragging are reported, but
  not scored.
- **Amplitude** (how big the movement is). Per body part and segment, the movement's
  extent is the root mean square deviation of the part's bone vectors from their mean over
  the segment; the ratio is the attempt's extents over the reference's (summed, so still
  passages weigh little). Score: 100 x min(ratio, 1 / ratio): a student who marks the
  moves at 70 % of their size scores 70.
- **Overall**: `WEIGHTS` (0.6 pose, 0.25 timing, 0.15 amplitude), renormalised over the
  dimensions measured (pose 0.8, amplitude 0.2 without music).
- **Judgements**, per beat of the reference's music (per `WINDOW_S` without a beat), in the
  manner of dance games: `perfect` (pose >= 90 and |offset| <= 0.1 s), `good` (>= 75,
  <= 0.2 s), `ok` (>= 50, <= 0.3 s), else `miss`; the offset only counts with music. A beat
  less than half of which was compared is not judged (null).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from pipeline.compare.alignment import Path
from pipeline.compare.poses import BODY_PARTS, MIN_BONES, Sampled

POSE_FULL = 0.07
POSE_ZERO = 0.25
SMOOTH_S = 0.25
ON_TIME_S = 0.05
TIMING_ZERO_S = 0.4
STILL_SPEED = 0.3  # body scales per second: slower than this, a frame has no timing weight
SPEED_BASELINE_S = 0.2
WEIGHTS = {"timing": 0.4, "amplitude": 0.25}  # the most each can take off the pose score
WINDOW_S = 1.0
SEGMENT_BEATS = 4  # a move: four beats (a bar), or two windows without a beat
JUDGEMENTS = (  # name, pose at least, |timing offset| at most (s)
    ("perfect", 90.0, 0.1),
    ("good", 75.0, 0.2),
    ("ok", 50.0, 0.3),
)
MISS = "miss"


@dataclass(frozen=True)
class Matched:
    """The path's pairs, as times and per-pair measures."""

    ref_times: np.ndarray  # (L,) reference time of each covered reference frame
    att_times: np.ndarray  # (L,) the attempt's time matched to it
    distance: np.ndarray  # (L,) bone-vector distance, NaN where not compared
    smoothed: np.ndarray  # (L,) distance averaged over SMOOTH_S of compared pairs
    frame_score: np.ndarray  # (L,) 0..100, NaN where not compared
    speed: np.ndarray  # (L,) reference movement speed, body scales per second
    ref_index: np.ndarray  # (L,) reference grid index
    att_index: np.ndarray  # (L,) attempt grid index

    @property
    def compared(self) -> np.ndarray:
        return np.isfinite(self.distance)


def pose_score(distance: np.ndarray) -> np.ndarray:
    return 100.0 * np.clip((POSE_ZERO - distance) / (POSE_ZERO - POSE_FULL), 0.0, 1.0)


def pair_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each pair a[k] ~ b[k]: the root mean square, over the bones seen on both
    sides, of their vectors' distance (a mean would let one wrong forearm among twelve bones
    vanish); NaN where fewer than MIN_BONES are seen on both sides."""
    dist = np.linalg.norm(a - b, axis=2)
    seen = np.isfinite(dist)
    count = seen.sum(axis=1)
    total = np.where(seen, dist**2, 0.0).sum(axis=1)
    return np.where(count >= MIN_BONES, np.sqrt(total / np.maximum(count, 1)), np.nan)


def _window_mean(values: np.ndarray, half: int) -> np.ndarray:
    """Mean of the finite values within +-half of each index (NaN stays NaN)."""
    known = np.isfinite(values)
    total = np.concatenate([[0.0], np.cumsum(np.where(known, values, 0.0))])
    count = np.concatenate([[0], np.cumsum(known)])
    index = np.arange(len(values))
    lo, hi = np.maximum(index - half, 0), np.minimum(index + half + 1, len(values))
    mean = (total[hi] - total[lo]) / np.maximum(count[hi] - count[lo], 1)
    return np.where(known, mean, np.nan)


def movement_speed(sampled: Sampled) -> np.ndarray:
    """Per grid frame, the mean speed of the bone vectors (body scales per second), over
    `SPEED_BASELINE_S` (frame to frame, landmark jitter alone looks like movement)."""
    half = max(1, int(round(SPEED_BASELINE_S * sampled.rate_hz / 2)))
    n = len(sampled)
    if n <= 2 * half:
        return np.zeros(n)
    bones = sampled.bones
    change = np.full(n, np.nan)
    step = np.linalg.norm(bones[2 * half :] - bones[: -2 * half], axis=2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pair of frames without a pose
        change[half:-half] = np.nanmean(step, axis=1)
    speed = change * sampled.rate_hz / (2 * half)
    return np.nan_to_num(speed, nan=0.0)


def match(reference: Sampled, attempt: Sampled, path: Path) -> Matched:
    distance = pair_distances(reference.bones[path.ref], attempt.bones[path.att])
    smoothed = _window_mean(distance, int(round(SMOOTH_S * reference.rate_hz)))
    return Matched(
        ref_times=reference.times[path.ref],
        att_times=attempt.times[path.att],
        distance=distance,
        smoothed=smoothed,
        frame_score=np.where(np.isfinite(smoothed), pose_score(smoothed), np.nan),
        speed=movement_speed(reference)[path.ref],
        ref_index=path.ref,
        att_index=path.att,
    )


def timing_weights(matched: Matched) -> np.ndarray:
    """How much each compared pair counts for timing: the reference's speed above STILL_SPEED
    (a held pose has no timing), times how well the two poses agree (where they do not, the
    path says little about when the move was made)."""
    moving = np.clip(matched.speed - STILL_SPEED, 0.0, None)
    agree = np.nan_to_num(matched.frame_score, nan=0.0) / 100.0
    return np.where(matched.compared, moving * agree, 0.0)


def timing_offsets(
    matched: Matched, music_time: np.ndarray | None, weights: np.ndarray
) -> np.ndarray:
    """Per pair, the attempt's time minus where it should be: the attempt's music time of the
    reference frame's music, or (no music) the straight line fitted through the path (least
    squares, with the timing weights)."""
    if music_time is not None:
        return matched.att_times - music_time
    known = weights > 0
    if known.sum() < 2 or np.ptp(matched.ref_times[known]) <= 0:
        return np.zeros(len(matched.att_times))
    slope, intercept = np.polyfit(
        matched.ref_times[known], matched.att_times[known], 1, w=np.sqrt(weights[known])
    )
    return matched.att_times - (intercept + slope * matched.ref_times)


def beat_timing_score(offset_s: float) -> float:
    return 100.0 * float(
        np.clip(1.0 - (abs(offset_s) - ON_TIME_S) / (TIMING_ZERO_S - ON_TIME_S), 0.0, 1.0)
    )


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return None
    return float(np.sum(values[keep] * weights[keep]) / np.sum(weights[keep]))


def judge(pose: float | None, offset_s: float | None) -> str | None:
    if pose is None:
        return None
    for name, least_pose, most_offset in JUDGEMENTS:
        if pose >= least_pose and (offset_s is None or abs(offset_s) <= most_offset):
            return name
    return MISS


def amplitude_extents(bones: np.ndarray) -> dict[str, float]:
    """Per body part, the mean over its bones of the median distance of a bone's vector from
    its median (body scales): how far the part moves, robust to a few wrong frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bone never seen: NaN
        centre = np.nanmedian(bones, axis=0)
        spread = np.nanmedian(np.linalg.norm(bones - centre, axis=2), axis=0)
    seen = np.isfinite(bones[..., 0]).sum(axis=0) >= 2
    spread = np.where(seen, spread, np.nan)
    out = {}
    for part, index in BODY_PARTS.items():
        values = spread[list(index)]
        values = values[np.isfinite(values)]
        out[part] = float(values.mean()) if len(values) else math.nan
    return out


def overall(scores: dict[str, float | None]) -> float:
    """The pose score, less up to WEIGHTS[k] of it for timing and amplitude."""
    total = scores["pose"] or 0.0
    for key in ("timing", "amplitude"):
        value = scores.get(key)
        if value is not None:
            total *= 1.0 - WEIGHTS[key] * (1.0 - value / 100.0)
    return total

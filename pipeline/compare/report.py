"""The comparison report: align, score, judge and explain (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.compare import feedback, moves, scoring
from pipeline.compare.alignment import Path, align, coarse_path
from pipeline.compare.poses import Performance, Sampled, check, sample
from pipeline.compare.soundtrack import (
    NO_SOUNDTRACK,
    MusicMap,
    Soundtrack,
    align_music,
    reference_beats,
)
from pipeline.smoothing import wrap

SCHEMA_VERSION = 2
DEFAULT_RATE_HZ = 30.0
MIN_POSE_S = 1.0  # each side needs at least this much pose on the grid
MIN_COVERAGE = 0.5  # below: a `low_coverage` warning
MIN_DETECTION = 0.5  # a side with a pose in fewer of its frames: a `low_detection` warning
MIRROR_MARGIN = 0.005  # a mirrored attempt must align better by this much (per frame)
WORST = 5
FEEDBACK_BELOW = 90.0  # segments scoring under this get a sentence


class ComparisonError(ValueError):
    """Cannot compare: `code` is stable (`too_little_pose`, `not_comparable`)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Aligned:
    reference: Sampled
    attempt: Sampled
    path: Path
    mirrored: bool


def _aligned(
    reference: Performance, attempt: Performance, mirror: bool | str, rate_hz: float
) -> tuple[Aligned, dict[str, Any]]:
    """Both on the grid, the attempt mirrored or not (with "auto": whichever aligns better on
    the coarse pass, by `MIRROR_MARGIN`), and the path."""
    ref = sample(reference, rate_hz)
    choices = (False, True) if mirror == "auto" else (bool(mirror),)
    sampled = {m: sample(attempt, rate_hz, mirror=m) for m in choices}
    for label, side in (("reference", ref), ("attempt", sampled[choices[0]])):
        if side.has_pose.sum() < MIN_POSE_S * rate_hz:
            raise ComparisonError(
                "too_little_pose",
                f"the {label} has a pose in less than {MIN_POSE_S:g} s of its video",
            )
    decision: dict[str, Any] = {"mode": "auto" if mirror == "auto" else ("on" if mirror else "off")}
    chosen = choices[0]
    try:
        rough = {m: coarse_path(ref.bones, att.bones, rate_hz) for m, att in sampled.items()}
    except ValueError:
        raise ComparisonError(
            "not_comparable", "no part of the attempt matches the reference"
        ) from None
    if mirror == "auto":
        cost = {m: path.cost / len(ref) for m, (path, _) in rough.items()}
        chosen = cost[True] < cost[False] - MIRROR_MARGIN
        decision["alignment_cost"] = {
            "as_filmed": round(cost[False], 4),
            "mirrored": round(cost[True], 4),
        }
    decision["mirrored"] = chosen
    try:
        path = align(ref.bones, sampled[chosen].bones, rate_hz, rough[chosen])
    except ValueError:
        raise ComparisonError(
            "not_comparable", "no part of the attempt matches the reference"
        ) from None
    return Aligned(ref, sampled[chosen], path, chosen), decision


def compare_performances(
    reference: Performance,
    attempt: Performance,
    *,
    mirror: bool | str = False,
    reference_audio: Soundtrack = NO_SOUNDTRACK,
    attempt_audio: Soundtrack = NO_SOUNDTRACK,
    rate_hz: float = DEFAULT_RATE_HZ,
    worst: int = WORST,
) -> dict[str, Any]:
    """The full report (JSON-serialisable). `mirror`: True, False or "auto". Raises
    `ComparisonError` when the two cannot be compared."""
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    if mirror not in (True, False, "auto"):
        raise ValueError("mirror must be true, false or 'auto'")
    check(reference, "reference")
    check(attempt, "attempt")
    aligned, mirror_decision = _aligned(reference, attempt, mirror, rate_hz)
    ref, att, path = aligned.reference, aligned.attempt, aligned.path
    matched = scoring.match(ref, att, path)
    if matched.compared.sum() < MIN_POSE_S * rate_hz:
        raise ComparisonError(
            "not_comparable",
            f"less than {MIN_POSE_S:g} s of the reference matched a pose of the attempt",
        )
    dance_lag = float(np.median(matched.att_times - matched.ref_times))
    music_map = align_music(reference_audio, attempt_audio, near_s=dance_lag)
    music_time = None if music_map is None else music_map(matched.ref_times)
    weights = scoring.timing_weights(matched)
    offsets = scoring.timing_offsets(matched, music_time, weights)
    beats = (
        reference_beats(reference_audio)
        if reference_audio.usable or reference_audio.beat_times is not None
        else None
    )
    moments = moves.moments(matched, offsets, weights, beats, ref, with_music=music_map is not None)
    segments = moves.segments(
        moments,
        matched,
        offsets,
        weights,
        ref,
        att,
        reference,
        attempt,
        aligned.mirrored,
        with_music=music_map is not None,
    )
    scores = _scores(matched, moments, ref, att)
    coverage = _coverage(ref, matched)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "score": moves.rounded(scores["overall"], 1),
        "similarity": moves.rounded(scores["overall"], 1),
        "scores": {k: moves.rounded(scores[k], 1) for k in ("pose", "timing", "amplitude")},
        "weights": dict(scoring.WEIGHTS),
        "coverage": round(coverage, 3),
        "warnings": _warnings(coverage, ref, att, reference_audio, attempt_audio, music_map),
        "mirror": aligned.mirrored,
        "mirror_decision": mirror_decision,
        "rate_hz": round(rate_hz, 3),
        "reference_duration_s": round(float(ref.times[-1] - ref.times[0]), 3),
        "attempt_duration_s": round(float(att.times[-1] - att.times[0]), 3),
        "alignment": _alignment(matched, ref, att),
        "music": _music(music_map, reference_audio, attempt_audio),
        "timing": _timing(moments, offsets, weights, music_map is not None),
        "amplitude": scores["amplitude_detail"],
        "judgements": _judgement_counts(moments, beats is not None),
        "segments": [moves.public_segment(s) for s in segments],
        "worst_segments": [],
        "feedback": [],
        "joint_angle_differences": _angle_differences(
            reference, attempt, ref, att, matched, aligned.mirrored
        ),
        "time_warp": {
            "mean_rate": moves.rounded(_mean_rate(matched), 3),
            "max_abs_offset_s": round(
                float(
                    np.max(
                        np.abs(
                            (matched.att_times - att.times[0]) - (matched.ref_times - ref.times[0])
                        )
                    )
                ),
                3,
            ),
        },
        "moments": [moves.public_moment(m) for m in moments],
        "path": {
            "reference_time_s": [round(float(t), 3) for t in matched.ref_times],
            "attempt_time_s": [round(float(t), 3) for t in matched.att_times],
        },
    }
    judged = sorted((s for s in segments if s["score"] is not None), key=lambda s: s["score"])
    report["worst_segments"] = [moves.public_segment(s) for s in judged[: max(0, worst)]]
    report["feedback"] = [
        s["feedback"] for s in judged[: max(0, worst)] if s["score"] < FEEDBACK_BELOW
    ]
    return report


def comparison_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-frame and per-beat lists: the short form for the database."""
    return {key: value for key, value in report.items() if key not in ("path", "moments")}


def _scores(
    matched: scoring.Matched,
    moments: list[dict[str, Any]],
    ref: Sampled,
    att: Sampled,
) -> dict[str, Any]:
    compared = matched.compared
    pose = float(np.mean(matched.frame_score[compared]))
    timing = moves.timing_score([m for m in moments if m["pose"] is not None])
    whole: dict[str, Any] = {
        "amplitude": None,
        "amplitude_parts": {},
        "ref_extent": 0.0,
        "att_extent": 0.0,
    }
    moves.amplitude(
        whole, ref.bones[matched.ref_index[compared]], att.bones[matched.att_index[compared]]
    )
    ratio = whole["att_extent"] / whole["ref_extent"] if whole["ref_extent"] > 0 else None
    return {
        "pose": pose,
        "timing": timing,
        "amplitude": whole["amplitude"],
        "overall": scoring.overall(
            {"pose": pose, "timing": timing, "amplitude": whole["amplitude"]}
        ),
        "amplitude_detail": {
            "ratio": moves.rounded(ratio, 3),
            "parts": {
                part: moves.rounded(a / r, 3) for part, (r, a) in whole["amplitude_parts"].items()
            },
        },
    }


def _coverage(ref: Sampled, matched: scoring.Matched) -> float:
    """The share of the reference's dance (its first to last frame with a pose) compared."""
    posed = np.flatnonzero(ref.has_pose)
    first, last = int(posed[0]), int(posed[-1])
    inside = (matched.ref_index >= first) & (matched.ref_index <= last) & matched.compared
    return float(inside.sum()) / (last - first + 1)


def _problem(reference_audio: Soundtrack, attempt_audio: Soundtrack) -> str:
    if reference_audio.problem:
        return f"the reference has {reference_audio.problem}"
    if attempt_audio.problem:
        return f"the attempt has {attempt_audio.problem}"
    return "the two soundtracks do not match (not the same music)"


def _warnings(
    coverage: float,
    ref: Sampled,
    att: Sampled,
    reference_audio: Soundtrack,
    attempt_audio: Soundtrack,
    music_map: MusicMap | None,
) -> list[dict[str, str]]:
    out = []
    if coverage < MIN_COVERAGE:
        out.append(
            {
                "code": "low_coverage",
                "message": f"only {coverage:.0%} of the reference's dance was compared "
                "(a pose on both sides)",
            }
        )
    for label, side in (("reference", ref), ("attempt", att)):
        share = float(side.has_pose.mean())
        if share < MIN_DETECTION:
            out.append(
                {
                    "code": "low_detection",
                    "message": f"the {label} has a pose in only {share:.0%} of its frames",
                }
            )
    if music_map is None:
        out.append(
            {
                "code": "timing_without_music",
                "message": f"{_problem(reference_audio, attempt_audio)}: "
                "timing is measured against the movement only",
            }
        )
    return out


def _alignment(matched: scoring.Matched, ref: Sampled, att: Sampled) -> dict[str, Any]:
    lag = (matched.att_times - att.times[0]) - (matched.ref_times - ref.times[0])
    return {
        "offset_s": moves.rounded(float(np.median(lag)), 3),
        "reference_start_s": round(float(matched.ref_times[0]), 3),
        "reference_end_s": round(float(matched.ref_times[-1]), 3),
        "attempt_start_s": round(float(matched.att_times[0]), 3),
        "attempt_end_s": round(float(matched.att_times[-1]), 3),
        "mean_rate": moves.rounded(_mean_rate(matched), 3),
    }


def _mean_rate(matched: scoring.Matched) -> float:
    span = float(matched.ref_times[-1] - matched.ref_times[0])
    return float(matched.att_times[-1] - matched.att_times[0]) / span if span > 0 else 1.0


def _music(
    music_map: MusicMap | None, reference_audio: Soundtrack, attempt_audio: Soundtrack
) -> dict[str, Any]:
    if music_map is None:
        return {"aligned": False, "reason": _problem(reference_audio, attempt_audio)}
    return {
        "aligned": True,
        "offset_s": moves.rounded(music_map.offset_s, 3),
        "drift_s": moves.rounded(music_map.drift_s, 3),
        "correlation": round(music_map.correlation, 3),
    }


def _timing(
    moments: list[dict[str, Any]], offsets: np.ndarray, weights: np.ndarray, with_music: bool
) -> dict[str, Any]:
    mean = scoring.weighted_mean(offsets, weights)
    if mean is None:
        mean = float(np.mean(offsets)) if len(offsets) else None
    timed = [m["offset"] for m in moments if m["offset"] is not None]
    late = sum(1 for o in timed if o > feedback.LATE_FROM_S)
    early = sum(1 for o in timed if o < -feedback.LATE_FROM_S)
    if mean is None or abs(mean) < scoring.ON_TIME_S:
        verdict = "on time" if with_music else "steady"
    elif with_music:
        verdict = f"{'late' if mean > 0 else 'early'} by {abs(mean):.2f} s"
    else:
        verdict = f"{'behind' if mean > 0 else 'ahead of'} its own tempo by {abs(mean):.2f} s"
    return {
        "basis": "music" if with_music else "movement",
        "mean_offset_s": moves.rounded(mean, 3),
        "verdict": verdict,
        "late": late,
        "early": early,
        "on_time": len(timed) - late - early,
    }


def _judgement_counts(moments: list[dict[str, Any]], on_beats: bool) -> dict[str, Any]:
    counts = {name: 0 for name, _, _ in scoring.JUDGEMENTS} | {scoring.MISS: 0, "not_judged": 0}
    for m in moments:
        counts[m["judgement"] or "not_judged"] += 1
    return {
        "unit": "beat"
        if on_beats and len(moments) and moments[0]["end"] - moments[0]["start"] < scoring.WINDOW_S
        else "window",
        "counts": counts,
        "thresholds": [
            {"judgement": name, "pose_at_least": pose, "timing_within_s": offset}
            for name, pose, offset in scoring.JUDGEMENTS
        ],
    }


def _angle_differences(
    reference: Performance,
    attempt: Performance,
    ref: Sampled,
    att: Sampled,
    matched: scoring.Matched,
    mirrored: bool,
) -> dict[str, dict[str, Any]]:
    """Per angle, the mean and largest absolute difference over the compared pairs."""
    att_names = {name: k for k, name in enumerate(attempt.angle_names)}
    ri = ref.frame_index[matched.ref_index[matched.compared]]
    ai = att.frame_index[matched.att_index[matched.compared]]
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(reference.angle_names):
        other = feedback.swap_sides(name) if mirrored else name
        if other not in att_names:
            continue
        a = np.asarray(reference.angles, dtype=float)[ri, k]
        b = np.asarray(attempt.angles, dtype=float)[ai, att_names[other]]
        diff = np.abs(wrap(a - b, 360.0))
        diff = diff[np.isfinite(diff)]
        out[name] = {
            "mean_abs_difference_deg": round(float(diff.mean()), 1) if len(diff) else None,
            "max_abs_difference_deg": round(float(diff.max()), 1) if len(diff) else None,
            "frames": int(len(diff)),
        }
    return out

"""The reference cut into judged stretches: *moments* (one beat of its music, or
`scoring.WINDOW_S` without a beat) and *segments* (moves of `scoring.SEGMENT_BEATS` beats, or
two windows), each with its pose, timing and amplitude and, for a segment, its feedback."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pipeline.compare import feedback, scoring
from pipeline.compare.poses import Performance, Sampled


def rounded(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits) + 0.0  # never -0.0


def windows(beats: np.ndarray | None, start: float, end: float) -> list[tuple[float, float]]:
    """The judged stretches of the reference: between consecutive beats inside its span, or
    `WINDOW_S` windows without a beat."""
    if beats is not None:
        inside = np.sort(beats[(beats >= start - 1e-9) & (beats <= end + 1e-9)])
        if len(inside) >= 2:
            return list(zip(inside[:-1].tolist(), inside[1:].tolist(), strict=True))
    count = max(1, math.ceil((end - start) / scoring.WINDOW_S - 1e-9))
    return [
        (start + k * scoring.WINDOW_S, min(end, start + (k + 1) * scoring.WINDOW_S))
        for k in range(count)
    ]


def moments(
    matched: scoring.Matched,
    offsets: np.ndarray,
    weights: np.ndarray,
    beats: np.ndarray | None,
    ref: Sampled,
    *,
    with_music: bool,
) -> list[dict[str, Any]]:
    out = []
    spans = windows(beats, float(ref.times[0]), float(ref.times[-1]))
    for k, (start, end) in enumerate(spans):
        stop = end if k < len(spans) - 1 else end + 0.5 / ref.rate_hz  # the last frame too
        pairs = np.flatnonzero((matched.ref_times >= start) & (matched.ref_times < stop))
        inside = int(((ref.times >= start) & (ref.times < stop)).sum())
        compared = pairs[matched.compared[pairs]]
        judged = inside > 0 and len(compared) >= 0.5 * inside
        pose = float(np.mean(matched.frame_score[compared])) if judged else None
        offset = scoring.weighted_mean(offsets[compared], weights[compared]) if judged else None
        out.append(
            {
                "start": start,
                "end": end,
                "pairs": pairs,
                "compared": compared,
                "attempt_span": _attempt_span(matched, pairs),
                "pose": pose,
                "offset": offset,
                "weight": float(weights[compared].sum()),
                "judgement": scoring.judge(pose, offset if with_music else None),
            }
        )
    return out


def segments(
    moments: list[dict[str, Any]],
    matched: scoring.Matched,
    offsets: np.ndarray,
    weights: np.ndarray,
    ref: Sampled,
    att: Sampled,
    reference: Performance,
    attempt: Performance,
    mirrored: bool,
    *,
    with_music: bool,
) -> list[dict[str, Any]]:
    per = (
        scoring.SEGMENT_BEATS
        if len(moments) and moments[0]["end"] - moments[0]["start"] < scoring.WINDOW_S
        else 2
    )
    out = []
    for first in range(0, len(moments), per):
        group = moments[first : first + per]
        pairs = np.concatenate([m["pairs"] for m in group])
        compared = np.concatenate([m["compared"] for m in group])
        judged = [m for m in group if m["pose"] is not None]
        segment: dict[str, Any] = {
            "start": group[0]["start"],
            "end": group[-1]["end"],
            "attempt_span": _attempt_span(matched, pairs),
            "judgements": [m["judgement"] for m in group],
            "pose": None, "timing": None, "amplitude": None, "score": None,
            "offset": None, "amplitude_parts": {}, "ref_extent": 0.0, "att_extent": 0.0,
        }  # fmt: skip
        if judged and len(compared):
            segment["pose"] = float(np.mean(matched.frame_score[compared]))
            segment["offset"] = scoring.weighted_mean(offsets[compared], weights[compared])
            segment["timing"] = timing_score(judged)
            amplitude(
                segment,
                ref.bones[matched.ref_index[compared]],
                att.bones[matched.att_index[compared]],
            )
            segment["score"] = scoring.overall(
                {k: segment[k] for k in ("pose", "timing", "amplitude")}
            )
        segment["feedback"] = _feedback(
            segment, matched, compared, ref, att, reference, attempt, mirrored, with_music
        )
        out.append(segment)
    return out


def _attempt_span(matched: scoring.Matched, pairs: np.ndarray) -> tuple[float, float] | None:
    """The attempt's first and last time among these pairs of the path."""
    if not len(pairs):
        return None
    return float(matched.att_times[pairs[0]]), float(matched.att_times[pairs[-1]])


def timing_score(moments: list[dict[str, Any]]) -> float | None:
    timed = [m for m in moments if m["offset"] is not None]
    if not timed:
        return None
    scores = np.array([scoring.beat_timing_score(m["offset"]) for m in timed])
    weights = np.array([m["weight"] for m in timed])
    return float(np.average(scores, weights=weights)) if weights.sum() > 0 else float(scores.mean())


def amplitude(segment: dict[str, Any], ref_bones: np.ndarray, att_bones: np.ndarray) -> None:
    ref_ext, att_ext = scoring.amplitude_extents(ref_bones), scoring.amplitude_extents(att_bones)
    parts = {}
    for part in ref_ext:
        if math.isfinite(ref_ext[part]) and math.isfinite(att_ext[part]) and ref_ext[part] > 1e-9:
            parts[part] = (ref_ext[part], att_ext[part])
    if not parts:
        return
    segment["amplitude_parts"] = parts
    segment["ref_extent"] = sum(r for r, _ in parts.values())
    segment["att_extent"] = sum(a for _, a in parts.values())
    ratio = segment["att_extent"] / segment["ref_extent"]
    segment["amplitude"] = 100.0 * min(ratio, 1.0 / ratio) if ratio > 0 else 0.0


def _feedback(
    segment: dict[str, Any],
    matched: scoring.Matched,
    compared: np.ndarray,
    ref: Sampled,
    att: Sampled,
    reference: Performance,
    attempt: Performance,
    mirrored: bool,
    with_music: bool,
) -> dict[str, Any]:
    ref_frames = ref.frame_index[matched.ref_index[compared]]
    att_frames = att.frame_index[matched.att_index[compared]]
    joints = (
        feedback.joint_differences(
            np.asarray(reference.angles, dtype=float)[ref_frames],
            reference.angle_names,
            np.asarray(attempt.angles, dtype=float)[att_frames],
            attempt.angle_names,
            mirrored=mirrored,
        )
        if len(compared)
        else []
    )
    parts = {part: a / r for part, (r, a) in segment["amplitude_parts"].items()}
    ratio = segment["att_extent"] / segment["ref_extent"] if segment["ref_extent"] > 0 else None
    span = (segment["start"], segment["end"])
    return {
        **_times(segment),
        "score": rounded(segment["score"], 1),
        "text": feedback.sentence(
            span,
            segment["attempt_span"],
            joints=joints,
            timing=feedback.timing_words(segment["offset"], music=with_music),
            amplitude=feedback.amplitude_words(segment["amplitude_parts"]),
            pose=segment["pose"],
        ),
        "joints": joints,
        "timing_offset_s": rounded(segment["offset"], 3),
        "timing_basis": "music" if with_music else "movement",
        "amplitude_ratio": rounded(ratio, 3),
        "amplitude_parts": {part: rounded(value, 3) for part, value in parts.items()},
    }


def _times(stretch: dict[str, Any]) -> dict[str, float | None]:
    """Where a moment or segment lies in both videos (seconds, each video's own clock)."""
    span = stretch["attempt_span"]
    return {
        "reference_start_s": round(stretch["start"], 3),
        "reference_end_s": round(stretch["end"], 3),
        "attempt_start_s": rounded(span[0], 3) if span else None,
        "attempt_end_s": rounded(span[1], 3) if span else None,
    }


def public_moment(m: dict[str, Any]) -> dict[str, Any]:
    return {
        **_times(m),
        "pose": rounded(m["pose"], 1),
        "timing_offset_s": rounded(m["offset"], 3),
        "judgement": m["judgement"],
    }


def public_segment(s: dict[str, Any]) -> dict[str, Any]:
    return {
        **_times(s),
        "similarity": rounded(s["score"], 1),
        "score": rounded(s["score"], 1),
        "pose": rounded(s["pose"], 1),
        "timing": rounded(s["timing"], 1),
        "amplitude": rounded(s["amplitude"], 1),
        "timing_offset_s": rounded(s["offset"], 3),
        "judgements": s["judgements"],
    }

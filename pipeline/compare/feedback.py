"""Feedback in words, from numbers: for a stretch of the dance, the joints that differ most
from the reference and how, the timing and the size of the movement, in plain sentences
(deterministic: the same numbers always give the same words).

Joint angles are the smoothed 2D angles of `angles.csv` (Sports2D's conventions), read by
their size so that the words hold whichever way the dancer faces: how bent an elbow or a
knee is (flexion), how high an arm or a leg is raised (the shoulder's and hip's angle to the
trunk), how far the trunk leans from upright. A difference is worth a word from
`MIN_DIFFERENCE_DEG`; at most `MAX_JOINTS` joints are named, the largest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.smoothing import wrap

MIN_DIFFERENCE_DEG = 15.0
MAX_JOINTS = 3
LATE_FROM_S = 0.1  # a stretch this late or early gets a word
SMALL_BELOW, BIG_ABOVE = 0.8, 1.25  # amplitude ratios that get a word ...
AMPLITUDE_MIN_EXTENT = 0.05  # ... when the part moves this much in the reference (body scales)
AMPLITUDE_MIN_DIFFERENCE = 0.03  # ... and the attempt's differs by this much


@dataclass(frozen=True)
class Feature:
    """An angle read for feedback: its name in angles.csv, what it is called in a sentence,
    how its size is taken, and the words for more and less."""

    angle: str
    label: str
    more: str
    less: str

    def size(self, degrees: np.ndarray) -> np.ndarray:
        if self.angle == "trunk":  # a segment angle, upright at 90
            return np.abs(wrap(degrees - 90.0, 360.0))
        return np.abs(wrap(degrees, 360.0))


FEATURES: tuple[Feature, ...] = tuple(
    Feature(f"{side}_{joint}", f"{side} {label}", more, less)
    for joint, label, more, less in (
        ("elbow", "elbow", "more bent", "straighter"),
        ("knee", "knee", "more bent", "straighter"),
        ("shoulder", "arm", "raised higher", "lower"),
        ("hip", "leg", "lifted higher", "lower"),
    )
    for side in ("left", "right")
) + (Feature("trunk", "trunk", "leaning further", "more upright"),)


def swap_sides(name: str) -> str:
    sides = {"left": "right", "right": "left"}
    return re.sub("left|right", lambda s: sides[s.group()], name)


def joint_differences(
    ref_angles: np.ndarray,
    ref_names: tuple[str, ...],
    att_angles: np.ndarray,
    att_names: tuple[str, ...],
    *,
    mirrored: bool,
) -> list[dict[str, Any]]:
    """The notable differences over matched frames (rows of both arrays pair up), largest
    first: {"joint", "attempt_joint", "difference_deg", "words"}."""
    ref_index = {name: k for k, name in enumerate(ref_names)}
    att_index = {name: k for k, name in enumerate(att_names)}
    found: list[dict[str, Any]] = []
    for feature in FEATURES:
        counterpart = swap_sides(feature.angle) if mirrored else feature.angle
        if feature.angle not in ref_index or counterpart not in att_index:
            continue
        a = feature.size(ref_angles[:, ref_index[feature.angle]])
        b = feature.size(att_angles[:, att_index[counterpart]])
        both = np.isfinite(a) & np.isfinite(b)
        if both.sum() < max(3, 0.5 * len(a)):
            continue
        diff = float(np.mean(b[both] - a[both]))
        if abs(diff) < MIN_DIFFERENCE_DEG:
            continue
        label = feature.label
        if mirrored and counterpart != feature.angle:
            label += f" (your {counterpart.split('_')[0]})"
        found.append(
            {
                "joint": feature.angle,
                "attempt_joint": counterpart,
                "difference_deg": round(diff, 1),
                "words": f"{label} {abs(diff):.0f}° {feature.more if diff > 0 else feature.less}",
            }
        )
    found.sort(key=lambda item: -abs(item["difference_deg"]))
    return found[:MAX_JOINTS]


def timing_words(offset_s: float | None, *, music: bool) -> str | None:
    if offset_s is None or abs(offset_s) < LATE_FROM_S:
        return None
    if music:
        return f"{abs(offset_s):.2f} s {'late' if offset_s > 0 else 'early'} on the beat"
    return f"{abs(offset_s):.2f} s {'behind' if offset_s > 0 else 'ahead of'} your own tempo"


def amplitude_words(extents: dict[str, tuple[float, float]]) -> list[str]:
    """Words for the parts whose movement is clearly smaller or bigger: `extents` is each
    part's (reference, attempt) extent in body scales; a part that barely moves in the
    reference, or differs by less than `AMPLITUDE_MIN_DIFFERENCE`, gets none (landmark
    jitter alone makes the ratio of two small extents swing)."""
    words = []
    for part, (reference, attempt) in extents.items():
        if reference < AMPLITUDE_MIN_EXTENT or abs(attempt - reference) < AMPLITUDE_MIN_DIFFERENCE:
            continue
        ratio = attempt / reference
        if ratio < SMALL_BELOW:
            words.append(f"{part}: movement smaller ({ratio:.0%} of the reference's)")
        elif ratio > BIG_ABOVE:
            words.append(f"{part}: movement bigger ({ratio:.0%} of the reference's)")
    return words


def sentence(
    span: tuple[float, float],
    attempt_span: tuple[float, float] | None,
    *,
    joints: list[dict[str, Any]],
    timing: str | None,
    amplitude: list[str],
    pose: float | None,
) -> str:
    """ "12.0-14.0 s (attempt 13.1-15.1 s): left elbow 35° more bent than the reference;
    0.25 s late on the beat"."""
    where = f"{span[0]:.1f}-{span[1]:.1f} s"
    if attempt_span is not None:
        where += f" (attempt {attempt_span[0]:.1f}-{attempt_span[1]:.1f} s)"
    parts = [item["words"] for item in joints]
    if parts:
        parts[0] += " than the reference"
    parts += ([timing] if timing else []) + amplitude
    if not parts:
        parts = [
            "the shape differs from the reference's"
            + (f" (pose {pose:.0f})" if pose is not None else "")
        ]
    return f"{where}: " + "; ".join(parts)

"""A comparison's summary in a few lines for people: what both `dance-analyzer compare`
commands print (two folders compared here, or two jobs on a service).

    score 84.2 / 100 (pose 88.5, timing 79.0, amplitude 81.3)
    coverage 97%
    timing: on time (music, mean offset +0.06 s)
    judgements per beat: perfect 9, good 5, ok 2, miss 1, not judged 0
    feedback:
      4.0-5.0 s (attempt 4.1-5.1 s): right knee 31° more bent than the reference; ...
    files:
      out/comparison.json
      out/comparison.mp4

Reads a report or its summary (schema version 2); a summary of version 1 (comparisons made
before it) has only its similarity.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

DIMENSIONS = ("pose", "timing", "amplitude")
JUDGEMENTS = ("perfect", "good", "ok", "miss", "not_judged")


def comparison_lines(
    summary: dict[str, Any], files: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """The summary's lines, then the files written (if any)."""
    score = summary.get("score", summary.get("similarity"))
    scores = summary.get("scores") or {}
    lines = [
        f"score {_number(score)} / 100"
        + (
            " (" + ", ".join(f"{name} {_number(scores.get(name))}" for name in DIMENSIONS) + ")"
            if scores
            else ""
        )
    ]
    if (coverage := summary.get("coverage")) is not None:
        lines.append(f"coverage {coverage:.0%}")
    if summary.get("mirror"):
        lines.append("the attempt was mirrored (left and right swapped)")
    if timing := summary.get("timing"):
        offset = timing.get("mean_offset_s")
        detail = timing.get("basis", "")
        if offset is not None:
            detail += f", mean offset {round(offset, 2) + 0.0:+.2f} s"  # no "-0.00"
        lines.append(f"timing: {timing.get('verdict')} ({detail})")
    if judgements := summary.get("judgements"):
        counts = judgements.get("counts") or {}
        lines.append(
            f"judgements per {judgements.get('unit', 'moment')}: "
            + ", ".join(f"{name.replace('_', ' ')} {counts.get(name, 0)}" for name in JUDGEMENTS)
        )
    lines += [f"warning: {warning['message']}" for warning in summary.get("warnings") or []]
    if feedback := summary.get("feedback"):
        lines.append("feedback:")
        lines += [f"  {item['text']}" for item in feedback]
    if written := [os.fspath(path) for path in files]:
        lines.append("files:")
        lines += [f"  {path}" for path in written]
    return lines


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"

"""Each dancer in or out of step at a moment of the video, from analysis.json's `group`: the
rule and the words of the web page's markers (api/static/app/steps.js), for the overlay
(`pipeline.video.step_marks`).

In the window of the group's pairs (`group.WINDOW_S`, 2 s) that holds the moment, a dancer is
in step when the mean of their pairs' window scores is `IN_STEP` or more, else out of step;
unknown when none of their pairs has a scored window there. Their offset is the mean of their
signed window offsets against the others (ms, positive: behind), rounded as JavaScript's
`Math.round` does, and said from `SAID_MS` on. The page and this module must agree:
tests/web/test_step_rule.py runs the page's function against this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

IN_STEP = 75  # steps.js IN_STEP
SAID_MS = 50  # an offset this large or more is said
_WORDS = {"in": "in step", "out": "out of step", "unknown": "not compared here"}


@dataclass(frozen=True)
class Step:
    """One dancer at one moment: `state` "in", "out" or "unknown"; `offset_ms` None when
    unknown."""

    id: int
    state: str
    offset_ms: int | None

    @property
    def words(self) -> str:
        """The page's words for it, without the `#id` it puts first: "in step",
        "out of step, 200 ms behind", "in step, 60 ms ahead"."""
        return ", ".join(self.lines)

    @property
    def lines(self) -> tuple[str, ...]:
        """The same words as the state and, when said, the offset: ("out of step",
        "200 ms behind")."""
        if self.offset_ms is None or abs(self.offset_ms) < SAID_MS:
            return (_WORDS[self.state],)
        lag = f"{abs(self.offset_ms)} ms {'behind' if self.offset_ms > 0 else 'ahead'}"
        return _WORDS[self.state], lag


def has_windows(group: dict[str, Any] | None) -> bool:
    """Whether the page follows this group moment by moment: a pair with windows."""
    return group is not None and any(pair.get("segments") for pair in group.get("pairs", ()))


def steps_at(group: dict[str, Any], time_s: float) -> list[Step]:
    """Each dancer of the group (in its order) at `time_s`, on the video's clock (s)."""
    steps = []
    for dancer in group["dancers"]:
        person = dancer["id"]
        scores: list[float] = []
        offsets: list[float] = []
        for pair in group["pairs"]:
            if not pair.get("segments") or person not in pair["dancers"]:
                continue
            window = next(
                (w for w in pair["segments"] if w["start_s"] <= time_s < w["end_s"]), None
            )
            if window is None or window["score"] is None:
                continue
            scores.append(window["score"])
            offset = window["offset_ms"]
            offsets.append(offset if pair["dancers"][1] == person else -offset)
        if not scores:
            steps.append(Step(person, "unknown", None))
            continue
        state = "in" if sum(scores) / len(scores) >= IN_STEP else "out"
        steps.append(Step(person, state, _js_round(sum(offsets) / len(offsets))))
    return steps


def _js_round(value: float) -> int:
    """JavaScript's Math.round: halves go up (12.5 -> 13, -12.5 -> -12)."""
    return math.floor(value + 0.5)

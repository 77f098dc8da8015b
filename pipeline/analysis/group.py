"""Group synchronisation: how in step several dancers of one video are, after SyncUp (Zhou,
Xu and Yatani, IMWUT 2021): pose similarity among the dancers and the temporal alignment of
their movements, the moments and body parts out of sync.

Every pair of dancers is compared with the comparison of two videos (`pipeline.compare`):
the first (lower id) as the reference, the second as the attempt, mirror "auto" (a dancer
facing the other way, or mirrored in a formation, is compared mirrored), no soundtrack (both
dance to the same music on the same clock). From its alignment path:

- offset: the attempt's time minus the reference's along the path, in ms (positive: the
  second dancer is behind the first), the median over the pair and over each window of
  `WINDOW_S` seconds;
- pose: the comparison's pose score (bone directions, 0..100), over the pair and per window
  (its moments in the window);
- timing: per window, 100 when the offset is within `scoring.ON_TIME_S` (50 ms), 0 from
  `scoring.TIMING_ZERO_S` (400 ms), linear between, as the comparison scores a beat; the
  pair's timing is the mean over its windows;
- score: `scoring.overall` of pose, timing and the comparison's amplitude (the pose score less
  up to 40 % of it for timing and 25 % for amplitude).

The group: each window's score is the mean of its pairs'; the overall score the mean of the
pairs'; each dancer's score the mean of the pairs they are in, and their offset the mean of
their signed offsets against each other dancer (positive: behind the others). The leader is
the dancer ahead of every other by more than 50 ms, when there is one. The least-in-unison
moments are the windows with the lowest group score, with the pair most out of step there
and the comparison's words for it (joints, timing).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from pipeline.compare import ComparisonError, Performance, compare_performances, scoring
from pipeline.compare.moves import rounded

WINDOW_S = 2.0
WORST = 3  # least-in-unison moments reported


def group_sync(people: dict[int, Performance]) -> dict[str, Any] | None:
    """The `group` section of analysis.json for these dancers (None: fewer than two)."""
    ids = sorted(people)
    if len(ids) < 2:
        return None
    pairs: list[dict[str, Any]] = []
    windows: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for a, b in combinations(ids, 2):
        try:
            report = compare_performances(people[a], people[b], mirror="auto", worst=WORST)
        except ComparisonError as exc:
            pairs.append({"dancers": [a, b], "error": {"code": exc.code, "message": exc.message}})
            continue
        pair, windows[a, b] = _pair(a, b, report)
        pairs.append(pair)
    scored = [p for p in pairs if "score" in p]
    segments = _group_windows(windows)
    return {
        "method": "every pair compared as two videos (pipeline.compare), same clock, mirror "
        f"auto; windows of {WINDOW_S:g} s",
        "score": rounded(_mean([p["score"] for p in scored]), 1),
        "dancers": [_dancer(i, scored) for i in ids],
        "leader": _leader(ids, scored),
        "pairs": pairs,
        "segments": segments,
        "least_in_unison": _least(segments, scored),
    }


def _pair(a: int, b: int, report: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    ref = np.asarray(report["path"]["reference_time_s"], dtype=float)
    att = np.asarray(report["path"]["attempt_time_s"], dtype=float)
    lag = att - ref
    windows = []
    start = np.floor(ref.min() / WINDOW_S) * WINDOW_S if len(ref) else 0.0
    while len(ref) and start <= ref.max():
        inside = (ref >= start) & (ref < start + WINDOW_S)
        poses = [
            m["pose"]
            for m in report["moments"]
            if m["pose"] is not None and start <= m["reference_start_s"] < start + WINDOW_S
        ]
        if inside.any():
            lag_s = float(np.median(lag[inside]))
            pose = _mean(poses) if poses else None
            in_step = _timing_score(lag_s)
            windows.append(
                {
                    "start_s": round(float(start), 3),
                    "end_s": round(float(start + WINDOW_S), 3),
                    "offset_ms": round(lag_s * 1000),
                    "pose": rounded(pose, 1),
                    "timing": rounded(in_step, 1),
                    "score": rounded(
                        None
                        if pose is None
                        else scoring.overall({"pose": pose, "timing": in_step}),
                        1,
                    ),
                }
            )
        start += WINDOW_S
    offset = float(np.median(lag)) if len(lag) else 0.0
    pose = report["scores"]["pose"]
    timing = _mean([w["timing"] for w in windows])  # None: no window
    amplitude = report["scores"]["amplitude"]
    pair = {
        "dancers": [a, b],
        "offset_ms": round(offset * 1000),
        "behind": None if abs(offset) < scoring.ON_TIME_S else (b if offset > 0 else a),
        "mirrored": report["mirror"],
        "pose": pose,
        "timing": rounded(timing, 1),
        "amplitude": amplitude,
        "score": rounded(
            scoring.overall({"pose": pose, "timing": timing, "amplitude": amplitude}), 1
        ),
        "coverage": report["coverage"],
        "joint_angle_differences": report["joint_angle_differences"],
        "segments": windows,
        "feedback": report["feedback"],
    }
    return pair, windows


def _timing_score(offset_s: float) -> float:
    span = scoring.TIMING_ZERO_S - scoring.ON_TIME_S
    return 100.0 * float(np.clip(1.0 - (abs(offset_s) - scoring.ON_TIME_S) / span, 0.0, 1.0))


def _group_windows(windows: dict[tuple[int, int], list[dict]]) -> list[dict[str, Any]]:
    by_start: dict[float, list[tuple[tuple[int, int], dict]]] = {}
    for pair, items in windows.items():
        for item in items:
            by_start.setdefault(item["start_s"], []).append((pair, item))
    out = []
    for start in sorted(by_start):
        scored = [(pair, w) for pair, w in by_start[start] if w["score"] is not None]
        if not scored:
            continue
        worst_pair, worst = min(scored, key=lambda item: item[1]["score"])
        out.append(
            {
                "start_s": start,
                "end_s": worst["end_s"],
                "score": rounded(_mean([w["score"] for _, w in scored]), 1),
                "pairs": len(scored),
                "most_out_of_step": {
                    "dancers": list(worst_pair),
                    "offset_ms": worst["offset_ms"],
                    "score": worst["score"],
                },
            }
        )
    return out


def _dancer(person: int, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [p for p in pairs if person in p["dancers"]]
    # signed: positive when this dancer is behind the other
    offsets = [p["offset_ms"] if p["dancers"][1] == person else -p["offset_ms"] for p in mine]
    return {
        "id": person,
        "score": rounded(_mean([p["score"] for p in mine]), 1),
        "offset_ms": round(float(np.mean(offsets))) if offsets else None,
    }


def _leader(ids: list[int], pairs: list[dict[str, Any]]) -> int | None:
    """The dancer ahead of every other by more than ON_TIME_S, if any."""
    lead_ms = scoring.ON_TIME_S * 1000
    for person in ids:
        mine = [p for p in pairs if person in p["dancers"]]
        if len(mine) != len(ids) - 1:
            continue  # not compared with everyone
        ahead = [
            (p["offset_ms"] if p["dancers"][0] == person else -p["offset_ms"]) > lead_ms
            for p in mine
        ]
        if all(ahead):
            return person
    return None


def _least(segments: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for segment in sorted(segments, key=lambda s: s["score"])[:WORST]:
        worst = segment["most_out_of_step"]
        pair = next(p for p in pairs if p["dancers"] == worst["dancers"])
        words = next(
            (
                item["text"]
                for item in pair["feedback"]
                if item["reference_start_s"] < segment["end_s"]
                and (item["reference_end_s"] or 0) > segment["start_s"]
            ),
            None,
        )
        a, b = worst["dancers"]
        if words is None:
            behind = b if worst["offset_ms"] > 0 else a
            words = (
                f"dancer {behind} {abs(worst['offset_ms'])} ms behind"
                if abs(worst["offset_ms"]) >= scoring.ON_TIME_S * 1000
                else "poses apart"
            )
        out.append(
            {
                "start_s": segment["start_s"],
                "end_s": segment["end_s"],
                "score": segment["score"],
                "dancers": [a, b],
                "offset_ms": worst["offset_ms"],
                "text": f"dancers {a} and {b}: {words}",
            }
        )
    return out


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None

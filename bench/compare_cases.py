"""The comparison's cases: pairs of takes (`bench/compare_takes.py`) of real dancers, what
each stands for and the bar it must meet, for the benchmark (`bench/bench_compare.py`) and
the tests on real footage (`tests/pipeline/compare/test_compare_footage.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.compare_takes import GIRL, RED, Occluder, Take, piecewise, shifted


@dataclass(frozen=True)
class Case:
    """An attempt to compare with a reference, what it stands for, and what it must score
    (`bar`: on the overall score, or on the pose where the timing is off on purpose)."""

    name: str
    reference: Take
    attempt: Take
    what: str
    bar: str  # "score>=97", "pose>=90", "score<=40", ...


def _dropouts(*starts: tuple[float, float]) -> tuple[Occluder, ...]:
    return tuple(Occluder(start, seconds, kind="dropout") for start, seconds in starts)


# The girl's performance, 9 s of it, with the picture lost three times (BlazePose finds no
# pose in 17 % of the reference's frames); each attempt loses it at other moments.
GIRL_REFERENCE = Take(
    GIRL, 9.0, shifted(3.0), shifted(3.0), occluders=_dropouts((1.5, 0.5), (5.0, 0.6), (7.6, 0.4))
)
_LOST = _dropouts((0.8, 0.5), (4.2, 0.5), (9.0, 0.6))
GIRL_CASES = (
    Case("itself", GIRL_REFERENCE, GIRL_REFERENCE, "the reference against itself", "score==100"),
    Case(
        "earlier",
        GIRL_REFERENCE,
        Take(GIRL, 11.5, shifted(0.0), shifted(0.0), occluders=_LOST),
        "starts 3 s earlier (a lead-in), ends 0.5 s sooner",
        "score>=97",
    ),
    Case(
        "later",
        GIRL_REFERENCE,
        Take(GIRL, 8.9, shifted(6.0), shifted(6.0), occluders=_LOST),
        "starts 3 s later, goes on 2.9 s longer",
        "score>=97",
    ),
    Case(
        "retimed",
        GIRL_REFERENCE,
        Take(GIRL, 8.3, piecewise([(0, 3), (4, 9), (8.3, 12)]), shifted(3.0), occluders=_LOST),
        "1.5x then 0.7x on the same soundtrack: up to 2 s early",
        "pose>=90",
    ),
    Case(
        "delayed",
        GIRL_REFERENCE,
        Take(GIRL, 9.3, shifted(2.7), shifted(3.0), occluders=_LOST),
        "every move 0.3 s late on the music",
        "pose>=97",
    ),
    Case(
        "mirrored",
        GIRL_REFERENCE,
        Take(GIRL, 9.0, shifted(3.0), shifted(3.0), mirror=True, occluders=_LOST),
        "filmed in a mirror (mirror: auto)",
        "score>=97",
    ),
    Case(
        "zoomed",
        GIRL_REFERENCE,
        Take(
            GIRL,
            9.0,
            shifted(3.0),
            shifted(3.0),
            view=(0.1, 0.1, 0.9, 0.9),
            scale=1.25,
            occluders=_LOST,
        ),
        "the centre 80 % of the picture, enlarged",
        "score>=92",
    ),
    Case(
        "shifted",
        GIRL_REFERENCE,
        Take(
            GIRL,
            9.0,
            shifted(3.0),
            shifted(3.0),
            view=(0.0, 0.05, 0.85, 0.95),
            scale=1.2,
            occluders=_LOST,
        ),
        "camera moved: the dancer off centre, bigger",
        "score>=92",
    ),
    Case(
        "small_15fps",
        GIRL_REFERENCE,
        Take(GIRL, 9.0, shifted(3.0), shifted(3.0), fps=15.0, scale=0.6, occluders=_LOST),
        "at 15 fps and 108x384 px",
        "score>=92",
    ),
    Case(
        "reversed",
        GIRL_REFERENCE,
        Take(GIRL, 9.0, lambda u: 12.0 - np.asarray(u), shifted(3.0), occluders=_LOST),
        "another choreography: the dance backwards",
        "score<=40",
    ),
)

# The woman in red, 20 s of the line dance in a crowd, camera panning with her.
RED_REFERENCE = Take(RED, 20.0, shifted(8.0), shifted(8.0), fps=25.0)
RED_CASES = (
    Case("itself", RED_REFERENCE, RED_REFERENCE, "the reference against itself", "score==100"),
    Case(
        "earlier",
        RED_REFERENCE,
        Take(RED, 22.0, shifted(5.0), shifted(5.0), fps=25.0),
        "starts 3 s earlier, ends 1 s earlier",
        "score>=97",
    ),
    Case(
        "later",
        RED_REFERENCE,
        Take(RED, 22.0, shifted(11.0), shifted(11.0), fps=25.0),
        "starts 3 s later, goes on 5 s longer",
        "score>=97",
    ),
    Case(
        "retimed",
        RED_REFERENCE,
        Take(RED, 18.67, piecewise([(0, 8), (8, 20), (18.67, 28)]), shifted(8.0), fps=25.0),
        "1.5x then 0.75x on the same soundtrack: up to 4 s early",
        "pose>=90",
    ),
    Case(
        "delayed",
        RED_REFERENCE,
        Take(RED, 20.3, shifted(7.7), shifted(8.0), fps=25.0),
        "every move 0.3 s late on the music",
        "pose>=97",
    ),
    Case(
        "mirrored",
        RED_REFERENCE,
        Take(RED, 20.0, shifted(8.0), shifted(8.0), fps=25.0, mirror=True),
        "filmed in a mirror (mirror: auto)",
        "score>=97",
    ),
    Case(
        "zoomed",
        RED_REFERENCE,
        Take(
            RED, 20.0, shifted(8.0), shifted(8.0), fps=25.0, view=(0.1, 0.1, 0.9, 0.9), scale=1.25
        ),
        "the centre 80 % of the picture (feet cut at times)",
        "score>=92",
    ),
    Case(
        "reversed",
        RED_REFERENCE,
        Take(RED, 20.0, lambda u: 28.0 - np.asarray(u), shifted(8.0), fps=25.0),
        "another choreography: the dance backwards",
        "score<=40",
    ),
)


def meets(bar: str, report: dict) -> bool:
    """Whether a report meets a case's bar."""
    for op in ("==", ">=", "<="):
        if op in bar:
            key, value = bar.split(op)
            got = report["score"] if key == "score" else report["scores"][key]
            return {
                "==": got == float(value),
                ">=": got >= float(value),
                "<=": got <= float(value),
            }[op]
    raise ValueError(bar)

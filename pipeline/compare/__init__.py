"""Compare an attempt with a reference performance of the same dance, as a teacher would.

    landmarks ─▶ poses: bone vectors on a 30 Hz grid ─▶ alignment: where the reference's
                 (mirrored or not)                      dance lies in the attempt (DTW)
    soundtracks ─▶ soundtrack: where the reference's music plays in the attempt
    path + music ─▶ scoring: pose, timing, amplitude; a judgement per beat
                 ─▶ feedback: the worst moves in words ─▶ report: comparison.json
    annotated videos + path ─▶ video: comparison.mp4, side by side and in step

Each module's docstring gives its method and constants; `report.compare_performances` is
the entry point. Pure functions on arrays and files: no database, no queue.
"""

from pipeline.compare.poses import Performance
from pipeline.compare.report import (
    ComparisonError,
    compare_performances,
    comparison_summary,
)
from pipeline.compare.soundtrack import NO_SOUNDTRACK, Soundtrack, load_soundtrack

__all__ = [
    "NO_SOUNDTRACK",
    "ComparisonError",
    "Performance",
    "Soundtrack",
    "compare_performances",
    "comparison_summary",
    "load_soundtrack",
]

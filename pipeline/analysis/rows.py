"""The analysis of a run's landmarks as the pipeline holds them: one row per frame (frame,
time, landmarks or None; with several dancers, [(id, landmarks)]), for analysis.json and
angles.csv (`pipeline.analysis.performance`), after a whole run (`pipeline.runner`) or a
stitch of segments (`pipeline.segments.stitch`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.analysis.movement_metrics import MetricsAccumulator, PeopleMetrics
from pipeline.analysis.performance import (
    AnalysisOptions,
    Performance,
    analyze_people,
    analyze_performance,
)


def analyze_rows(
    rows: list[tuple[int, float, Any]],
    metrics: MetricsAccumulator | PeopleMetrics,
    fps: float,
    input_path: str | os.PathLike,
    out: Path,
    options: AnalysisOptions,
) -> dict:
    """analysis.json's content (and angles.csv, in `out`): one dancer's performance, or with
    `PeopleMetrics`, each dancer's and the group's; the soundtrack read from `input_path`."""

    def performance(rows: list[tuple[int, float, np.ndarray | None]]) -> Performance:
        return Performance.from_rows(rows, width=metrics.width, height=metrics.height, fps=fps)

    if not isinstance(metrics, PeopleMetrics):
        return analyze_performance(performance(rows), out, audio_source=input_path, options=options)
    ids = sorted({person_id for _, _, people in rows for person_id, _ in people})
    people = {
        person_id: performance(
            [(index, time_s, dict(found).get(person_id)) for index, time_s, found in rows]
        )
        for person_id in ids
    }
    nobody = performance([(index, time_s, None) for index, time_s, _ in rows])
    return analyze_people(
        people,
        nobody,
        out,
        main_person_id=metrics.main_person_id(),
        audio_source=input_path,
        options=options,
    )

"""Compare two analysed performances as they are stored: the output folders of
`dance-analyzer analyze` (or a job's outputs, downloaded), into `comparison.json` and
`comparison.mp4`. The command line and the worker both call `compare_folders`.

A folder gives `keypoints.json` (the landmarks; with several dancers, the main one),
`analysis.json` (the music's beats, if it has them: not tracked again) and `annotated.mp4`
(its soundtrack, and the pictures of the side-by-side video). Only `keypoints.json` is
needed: without the video there is no music timing and no comparison video, and the report
says so.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.compare.report import ComparisonError, compare_performances
from pipeline.compare.soundtrack import NO_SOUNDTRACK, Soundtrack, load_soundtrack
from pipeline.compare.video import Moment, SideBySide, render_side_by_side
from shared import outputs

# a job's folder holds its outputs by their file names (`shared.outputs`); so does the result
KEYPOINTS = outputs.KEYPOINTS.file_name
ANALYSIS = outputs.ANALYSIS.file_name
VIDEO = outputs.VIDEO.file_name
REPORT_JSON = outputs.COMPARISON_REPORT.file_name
COMPARISON_VIDEO = outputs.COMPARISON_VIDEO.file_name
VIDEO_MAX_FPS = 30.0
VIDEO_HEIGHT = 360


class FolderError(ComparisonError):
    """A folder cannot be read as an analysed performance (`code`: `input_missing`,
    `bad_keypoints`)."""


def load_performance(folder: str | os.PathLike):
    """The performance of a folder's keypoints.json (its smoothed landmarks where it has
    them: the steadier poses), with its smoothed angles."""
    from pipeline.analysis.performance import Performance, for_comparison

    path = Path(folder) / KEYPOINTS
    if not path.is_file():
        raise FolderError("input_missing", f"no {KEYPOINTS} in {folder}")
    try:
        return for_comparison(Performance.from_keypoints(path, steady=True))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise FolderError("bad_keypoints", f"{path} is not a keypoints file: {exc}") from None


def load_folder_soundtrack(folder: str | os.PathLike) -> Soundtrack:
    """The soundtrack of the folder's annotated video, with the beats of its analysis."""
    video = Path(folder) / VIDEO
    if not video.is_file():
        return NO_SOUNDTRACK
    return load_soundtrack(video, beat_times=_beats(Path(folder) / ANALYSIS))


def _beats(path: Path) -> list[float] | None:
    try:
        music = json.loads(path.read_text(encoding="utf-8")).get("music") or {}
    except (OSError, ValueError, AttributeError):
        return None
    beats = music.get("beat_times") if music.get("available") else None
    if not isinstance(beats, list) or not all(isinstance(t, int | float) for t in beats):
        return None
    return [float(t) for t in beats]


def compare_folders(
    reference: str | os.PathLike,
    attempt: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mirror: bool | str = "auto",
    video: bool = True,
) -> dict[str, Any]:
    """Write comparison.json (and comparison.mp4 when `video` and both folders have their
    annotated video) into `out_dir`; return the report. Raises `ComparisonError`."""
    report = compare_performances(
        load_performance(reference),
        load_performance(attempt),
        mirror=mirror,
        reference_audio=load_folder_soundtrack(reference),
        attempt_audio=load_folder_soundtrack(attempt),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    videos = (Path(reference) / VIDEO, Path(attempt) / VIDEO)
    report["video"] = None
    if video and all(path.is_file() for path in videos):
        report["video"] = render_side_by_side(
            *videos, out / COMPARISON_VIDEO, video_plan(report), height=VIDEO_HEIGHT
        )
    (out / REPORT_JSON).write_text(json.dumps(report) + "\n", encoding="utf-8")
    return report


def video_plan(report: dict[str, Any]) -> SideBySide:
    """The side-by-side video of a report: the reference over the compared span, at its
    frame rate (at most `VIDEO_MAX_FPS`), the attempt at the path's matching time."""
    path = report["path"]
    ref_t = np.asarray(path["reference_time_s"], dtype=float)
    att_t = np.asarray(path["attempt_time_s"], dtype=float)
    step = np.diff(ref_t)
    grid = float(np.median(step[step > 0])) if np.any(step > 0) else 1.0 / VIDEO_MAX_FPS
    fps = min(VIDEO_MAX_FPS, 1.0 / grid)
    count = max(1, int(math.floor((ref_t[-1] - ref_t[0]) * fps + 1e-9)) + 1)
    times = ref_t[0] + np.arange(count) / fps
    moments = tuple(
        Moment(
            m["reference_start_s"],
            m["reference_end_s"],
            m["judgement"],
            m["pose"],
        )
        for m in report["moments"]
    )
    scores = report["scores"]
    title = f"score {report['score']:.0f}" + "".join(
        f" | {name} {value:.0f}" for name, value in scores.items() if value is not None
    )
    return SideBySide(
        reference_times=times,
        attempt_times=np.interp(times, ref_t, att_t),
        fps=fps,
        moments=moments,
        title=title,
    )

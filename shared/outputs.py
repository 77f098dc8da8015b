"""Every file the service gives a client, in one registry: each output's name, file name,
media type and where it is stored. The pipeline names its files from it, the worker uploads
and records them by it, the status object, the download routes and retention read it.

Adding an output to a job is one `Output` in `JOB_OUTPUTS` plus the code that writes the
file (`pipeline.runner.PipelineResult.output_paths` finds it by its file name):
- storage key: `outputs/<job_id>/<file_name>` (`shared.storage_keys.output_keys`), so
  deleting or expiring the job removes it with the rest;
- the job row: `Job.output_keys[name]`;
- the status object: `result.<name>_url` and `links.<name>`;
- the download: `GET /api/jobs/{id}/<name>` (one parameterised route).
A comparison's outputs live under `comparisons/<comparison_id>/` the same way.

Motion files are per dancer (`motion_person<id>.bvh`), so they are named by the pipeline
from a `MotionFormat` and listed one by one in `Job.output_exports`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args


@dataclass(frozen=True)
class Output:
    name: str  # the download route's last segment, `result.<name>_url`, `links.<name>`
    file_name: str  # in the bucket and in a run's folder
    media_type: str
    summary: str  # the download route's title in the OpenAPI document
    description: str
    always: bool = True  # False: jobs finished before it existed lack it (404 output_not_found)


VIDEO = Output(
    "video",
    "annotated.mp4",
    "video/mp4",
    "Download the annotated video",
    "The input video with the pose skeleton drawn on it (H.264 MP4).",
)
KEYPOINTS = Output(
    "keypoints",
    "keypoints.json",
    "application/json",
    "Download the keypoints",
    "keypoints.json: per frame, the 33 BlazePose landmarks (x, y, z, visibility).",
)
SUMMARY = Output(
    "summary",
    "summary.json",
    "application/json",
    "Download the summary",
    "summary.json: the movement metrics of the job.",
    always=False,
)
ANALYSIS = Output(
    "analysis",
    "analysis.json",
    "application/json",
    "Download the analysis",
    "analysis.json: angle summaries, left/right symmetry, movement energy and tempo, and the "
    "music section (beats, on-beat score). Fields: see the manual (docs/analysis.md).",
    always=False,
)
ANGLES = Output(
    "angles",
    "angles.csv",
    "text/csv",
    "Download the joint and segment angles",
    "angles.csv: `frame,time_s,<angle names...>` in degrees (smoothed), then `<name>_raw` "
    "columns; empty cells where an angle is unknown.",
    always=False,
)

JOB_OUTPUTS: tuple[Output, ...] = (VIDEO, KEYPOINTS, SUMMARY, ANALYSIS, ANGLES)
JOB_OUTPUT_NAMES: tuple[str, ...] = tuple(output.name for output in JOB_OUTPUTS)


COMPARISON_REPORT = Output(
    "report",
    "comparison.json",
    "application/json",
    "Download the full comparison report",
    "comparison.json: the summary plus the alignment path and every judged moment (302 to "
    "storage).",
)
COMPARISON_VIDEO = Output(
    "video",
    "comparison.mp4",
    "video/mp4",
    "Download the side-by-side video",
    "comparison.mp4: the reference and the attempt side by side, in step along the "
    "alignment, with the reference's soundtrack and each moment's judgement (H.264, 302 to "
    "storage). 404 `output_not_found` when the comparison has none (`video` was false, or a "
    "job has no annotated video).",
    always=False,  # only when the comparison was asked for with `video`
)
COMPARISON_OUTPUTS: tuple[Output, ...] = (COMPARISON_REPORT, COMPARISON_VIDEO)


ExportFormat = Literal["bvh", "trc", "csv"]  # what a job's `exports` option may list


@dataclass(frozen=True)
class MotionFormat:
    name: ExportFormat
    stem: str  # the file's name before `_person<id>` and the extension
    extension: str
    media_type: str
    per_person: bool  # one file per dancer; else one file for everyone

    def file_name(self, person: int | None = None) -> str:
        """`motion.bvh`, or `motion_person2.bvh` for one dancer of several."""
        if self.per_person and person is not None:
            return f"{self.stem}_person{person}.{self.extension}"
        return f"{self.stem}.{self.extension}"


BVH = MotionFormat("bvh", "motion", "bvh", "text/plain", per_person=True)
TRC = MotionFormat("trc", "markers", "trc", "text/plain", per_person=True)
WORLD_CSV = MotionFormat("csv", "world_landmarks", "csv", "text/csv", per_person=False)

MOTION_FORMATS: tuple[MotionFormat, ...] = (BVH, TRC, WORLD_CSV)
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
if EXPORT_FORMATS != tuple(fmt.name for fmt in MOTION_FORMATS):  # one entry per name, in order
    raise ImportError("MOTION_FORMATS and ExportFormat disagree")


def motion_format(name: str) -> MotionFormat:
    """The motion format called `name`; KeyError for another name."""
    return {str(fmt.name): fmt for fmt in MOTION_FORMATS}[name]


def checked_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The formats in the order of `EXPORT_FORMATS`, each once; ValueError naming an unknown
    one (light: the CLI's argument parser checks them before anything heavy is imported)."""
    wanted = set(formats)
    unknown = sorted(wanted - set(EXPORT_FORMATS), key=str)
    if unknown:
        raise ValueError(
            f"unknown export format {unknown[0]!r}; known: {', '.join(EXPORT_FORMATS)}"
        )
    return tuple(fmt for fmt in EXPORT_FORMATS if fmt in wanted)

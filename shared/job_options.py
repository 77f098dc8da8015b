"""A job's processing options, defined once: what a client may ask for (`JobOptions`,
validated at the gateway), and what a job runs with (`SettledOptions`: every default filled
in, stored on the job row, read back by the worker). `pipeline.options.pipeline_options`
turns the latter into the pipeline's options; the CLI goes the same way.

Defaults live here and nowhere else: the detection thresholds come from the settings
(`MIN_DETECTION_CONFIDENCE`, `MIN_TRACKING_CONFIDENCE`), the rest are the fields' defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.config import Settings
from shared.outputs import EXPORT_FORMATS, ExportFormat, checked_formats

MAX_PEOPLE = 8  # the most dancers a job may follow: each costs about one model run a frame
PoseModel = Literal["lite", "full", "heavy"]  # BlazePose's landmark models (pipeline.pose.models)
Smoothing = Literal["none", "light", "strong"]  # the landmarks' filter (pipeline.pose.steady)
DEFAULT_SMOOTHING: Smoothing = "light"  # measured: docs/figures.md, "Steadier landmarks"


class SettledOptions(BaseModel):
    """The options a job runs with, every default filled in (what its row stores)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    min_detection_confidence: float = Field(ge=0, le=1)
    min_tracking_confidence: float = Field(ge=0, le=1)
    angle_labels: bool = False
    max_people: int = Field(default=1, ge=1, le=MAX_PEOPLE)
    exports: tuple[ExportFormat, ...] = EXPORT_FORMATS
    model: PoseModel = "full"
    smoothing: Smoothing = DEFAULT_SMOOTHING

    @field_validator("exports", mode="before")
    @classmethod
    def _in_order(cls, formats: Any) -> Any:
        """In the order of `EXPORT_FORMATS`, each once; an unknown one is named."""
        if isinstance(formats, list | tuple | set | frozenset):
            return checked_formats(formats)
        return formats

    @classmethod
    def from_row(cls, stored: dict[str, Any] | None, settings: Settings) -> SettledOptions:
        """A stored job's options; a row older than an option gets that option's default."""
        return cls.model_validate(
            {
                "min_detection_confidence": settings.MIN_DETECTION_CONFIDENCE,
                "min_tracking_confidence": settings.MIN_TRACKING_CONFIDENCE,
                **(stored or {}),
            }
        )

    def stored(self) -> dict[str, Any]:
        """As the job row keeps it (and the status object shows it)."""
        return self.model_dump(mode="json") | {"exports": list(self.exports)}


class JobOptions(BaseModel):
    """Processing options of a job; omitted values take the server's defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"min_detection_confidence": 0.6, "angle_labels": True}]},
    )

    min_detection_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum pose detection confidence, 0..1 (default `MIN_DETECTION_CONFIDENCE`).",
    )
    min_tracking_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum landmark tracking confidence, 0..1 (default "
        "`MIN_TRACKING_CONFIDENCE`).",
    )

    angle_labels: bool | None = Field(
        default=None,
        description="Write each joint angle (degrees) beside its joint in the annotated "
        "video (default false).",
    )

    max_people: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PEOPLE,
        description=f"Follow up to this many dancers, 1..{MAX_PEOPLE}, each with its own id "
        "(default 1: one dancer, the fastest). Above 1 the outputs describe each dancer: "
        "keypoints.json version 2, `metrics.people`, `analysis.people`.",
    )

    exports: list[ExportFormat] | None = Field(
        default=None,
        max_length=len(EXPORT_FORMATS),
        description="Motion files to make, any of `bvh` (a skeleton's joint rotations, for "
        "Blender and other animation tools), `trc` (marker trajectories, for OpenSim), `csv` "
        "(the world landmarks); `[]` for none (default: all three).",
        examples=[["bvh", "csv"]],
    )

    model: PoseModel | None = Field(
        default=None,
        description="The pose model: `lite` (fastest), `full` (default) or `heavy` (the most "
        "accurate, about 3x slower); lite and heavy must be installed on the workers "
        "(`dance-analyzer models install`), else 422 `model_unavailable`.",
    )

    smoothing: Smoothing | None = Field(
        default=None,
        description="Steadier landmarks: `none` (the model's, with MediaPipe's own filter, "
        "which lags fast moves), `light` (default) or `strong`: a filter without lag over "
        "the frames around each one, drawn in the video and written as `smoothed_landmarks` "
        "beside the model's `landmarks` in keypoints.json.",
    )

    def settled(self, settings: Settings) -> SettledOptions:
        """The options with the server's defaults filled in."""
        return SettledOptions.from_row(self.model_dump(exclude_none=True), settings)

    def resolved(self, settings: Settings) -> dict[str, Any]:
        """The options with defaults filled in, as stored on the job."""
        return self.settled(settings).stored()

"""The pipeline's cost limits, from the settings (the worker and the CLI share them), and a
job's pipeline options."""

from __future__ import annotations

from typing import Any

from pipeline.motion.formats import FORMATS, checked_formats
from pipeline.runner import PipelineOptions
from pipeline.video.source import Limits
from shared.config import Settings, settings


def video_limits(config: Settings = settings, *, max_duration_s: float | None = None) -> Limits:
    """Duration, size, frame count and frame rate a video may have (the CLI may override the
    duration)."""
    return Limits(
        max_duration_s=config.MAX_VIDEO_DURATION_S if max_duration_s is None else max_duration_s,
        max_side=config.MAX_VIDEO_SIDE,
        max_pixels=config.MAX_VIDEO_PIXELS,
        max_frames=config.MAX_VIDEO_FRAMES,
        max_fps=config.MAX_VIDEO_FPS,
    )


def pipeline_options(options: dict[str, Any]) -> PipelineOptions:
    """A job's options (as stored on its row) as the pipeline takes them."""
    return PipelineOptions(
        min_detection_confidence=float(
            options.get("min_detection_confidence", settings.MIN_DETECTION_CONFIDENCE)
        ),
        min_tracking_confidence=float(
            options.get("min_tracking_confidence", settings.MIN_TRACKING_CONFIDENCE)
        ),
        limits=video_limits(settings),
        angle_labels=bool(options.get("angle_labels", False)),
        max_people=int(options.get("max_people", 1)),
        exports=checked_formats(options.get("exports", FORMATS)),
    )

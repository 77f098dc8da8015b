"""The pipeline's options for a job: its settled options (`shared.job_options`) and the cost
limits of the settings. The worker and the CLI both come through here."""

from __future__ import annotations

from typing import Any

from pipeline.runner import PipelineOptions
from pipeline.video.source import Limits
from shared.config import Settings, settings
from shared.job_options import SettledOptions


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


def pipeline_options(
    options: SettledOptions | dict[str, Any],
    config: Settings = settings,
    *,
    max_duration_s: float | None = None,
) -> PipelineOptions:
    """A job's options (settled, or as stored on its row) as the pipeline takes them."""
    if not isinstance(options, SettledOptions):
        options = SettledOptions.from_row(options, config)
    return PipelineOptions(
        min_detection_confidence=options.min_detection_confidence,
        min_tracking_confidence=options.min_tracking_confidence,
        limits=video_limits(config, max_duration_s=max_duration_s),
        angle_labels=options.angle_labels,
        max_people=options.max_people,
        exports=options.exports,
        model=options.model,
        smoothing=options.smoothing,
    )

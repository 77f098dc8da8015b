"""The pipeline's cost limits, from the settings (the worker and the CLI share them)."""

from __future__ import annotations

from shared.config import Settings, settings
from worker.pipeline.source import Limits


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

"""Movement metrics, accumulated frame by frame in constant memory.

The result is the `metrics` object of the job status contract (plain numbers), plus a
`movement` object describing how much and how widely the dancer moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from worker.pipeline.overlay import VISIBILITY_THRESHOLD

_HIPS = (23, 24)
_SHOULDERS = (11, 12)


@dataclass
class MetricsAccumulator:
    fps: float
    width: int
    height: int
    processed_frames: int = 0
    detected_frames: int = 0
    _visibility_sum: float = 0.0
    _speed_sum: float = 0.0
    _speed_count: int = 0
    _peak_speed: float = 0.0
    _hip_y: list[float] = field(default_factory=lambda: [math.inf, -math.inf])
    _hip_x: list[float] = field(default_factory=lambda: [math.inf, -math.inf])
    _previous: tuple[float, np.ndarray] | None = None
    _first_time: float | None = None
    _last_time: float = 0.0

    def add(self, time_s: float, landmarks: np.ndarray | None) -> None:
        self.processed_frames += 1
        if self._first_time is None:
            self._first_time = time_s
        self._last_time = time_s
        if landmarks is None:
            self._previous = None
            return
        self.detected_frames += 1
        self._visibility_sum += float(landmarks[:, 3].mean())
        hips = [float(v) for v in landmarks[list(_HIPS), :2].mean(axis=0)]
        self._hip_x = [min(self._hip_x[0], hips[0]), max(self._hip_x[1], hips[0])]
        self._hip_y = [min(self._hip_y[0], hips[1]), max(self._hip_y[1], hips[1])]
        if self._previous is not None:
            self._add_speed(time_s, landmarks)
        self._previous = (time_s, landmarks)

    def _add_speed(self, time_s: float, landmarks: np.ndarray) -> None:
        """Mean speed of the landmarks visible in both frames, in body heights per second."""
        assert self._previous is not None
        prev_time, prev = self._previous
        dt = time_s - prev_time
        visible = (landmarks[:, 3] >= VISIBILITY_THRESHOLD) & (prev[:, 3] >= VISIBILITY_THRESHOLD)
        if dt <= 0 or visible.sum() < 4:
            return
        scale = np.array([self.width, self.height], dtype=np.float32)
        moved = np.linalg.norm((landmarks[visible, :2] - prev[visible, :2]) * scale, axis=1)
        body = _body_height_px(landmarks, scale)
        if body <= 0:
            return
        speed = float(moved.mean() / body / dt)
        self._speed_sum += speed
        self._speed_count += 1
        self._peak_speed = max(self._peak_speed, speed)

    def result(self, *, total_frames: int, failed_frames: int, processing_time_s: float) -> dict:
        duration = (self._last_time - (self._first_time or 0.0)) + (1 / self.fps if self.fps else 0)
        has_hips = self.detected_frames > 0
        return {
            "total_frames": total_frames,
            "processed_frames": self.processed_frames,
            "detected_frames": self.detected_frames,
            "failed_frames": failed_frames,
            "detection_rate": _ratio(self.detected_frames, self.processed_frames),
            "average_visibility": _ratio(self._visibility_sum, self.detected_frames),
            "fps": round(self.fps, 3),
            "width": self.width,
            "height": self.height,
            "duration_s": round(max(duration, 0.0), 3) if self.processed_frames else 0.0,
            "processing_time_s": round(processing_time_s, 3),
            "processing_fps": round(self.processed_frames / processing_time_s, 2)
            if processing_time_s > 0
            else 0.0,
            "movement": {
                "mean_speed_body_heights_per_s": round(self._speed_sum / self._speed_count, 4)
                if self._speed_count
                else 0.0,
                "peak_speed_body_heights_per_s": round(self._peak_speed, 4),
                "hip_travel_x": round(self._hip_x[1] - self._hip_x[0], 4) if has_hips else 0.0,
                "hip_travel_y": round(self._hip_y[1] - self._hip_y[0], 4) if has_hips else 0.0,
            },
        }


def _body_height_px(landmarks: np.ndarray, scale: np.ndarray) -> float:
    """Shoulder-midpoint to hip-midpoint distance times 3: a steady body-size yardstick."""
    shoulders = landmarks[list(_SHOULDERS), :2].mean(axis=0) * scale
    hips = landmarks[list(_HIPS), :2].mean(axis=0) * scale
    return float(np.linalg.norm(shoulders - hips) * 3)


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0

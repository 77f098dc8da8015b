"""Movement metrics, accumulated frame by frame in constant memory.

The result is the `metrics` object of the job status contract (plain numbers), plus a
`movement` object describing how much and how widely the dancer moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.video.overlay import VISIBILITY_THRESHOLD

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


class PeopleMetrics:
    """Metrics of a video with several dancers (`max_people` > 1): the contract's numbers for
    the video as a whole, where a frame counts as detected when anyone is found, `movement`
    of the main dancer (the one found in most frames, `main_person_id`), and the same for
    each dancer in `people`."""

    def __init__(self, fps: float, width: int, height: int):
        self.fps, self.width, self.height = fps, width, height
        self.anyone = MetricsAccumulator(fps=fps, width=width, height=height)
        self.people: dict[int, MetricsAccumulator] = {}
        self.seen: dict[int, list[float]] = {}  # id -> [first, last] time seen
        self.max_in_frame = 0
        self._people_frames = 0
        self._visibility_sum = 0.0

    def add(self, time_s: float, people: list[tuple[int, np.ndarray]]) -> None:
        self.anyone.add(time_s, people[0][1] if people else None)
        self.max_in_frame = max(self.max_in_frame, len(people))
        present = dict(people)
        for person_id, landmarks in people:
            if person_id not in self.people:
                self.people[person_id] = MetricsAccumulator(self.fps, self.width, self.height)
                self.seen[person_id] = [time_s, time_s]
            self.seen[person_id][1] = time_s
            self._people_frames += 1
            self._visibility_sum += float(landmarks[:, 3].mean())
        for person_id, accumulator in self.people.items():
            accumulator.add(time_s, present.get(person_id))

    def main_person_id(self) -> int | None:
        """The dancer found in most frames (the first seen among equals)."""
        if not self.people:
            return None
        return max(self.people, key=lambda i: (self.people[i].detected_frames, -i))

    def result(self, *, total_frames: int, failed_frames: int, processing_time_s: float) -> dict:
        result = self.anyone.result(
            total_frames=total_frames,
            failed_frames=failed_frames,
            processing_time_s=processing_time_s,
        )
        processed = self.anyone.processed_frames
        main = self.main_person_id()
        people = []
        for person_id, accumulator in sorted(self.people.items()):
            own = accumulator.result(
                total_frames=total_frames, failed_frames=0, processing_time_s=0.0
            )
            people.append(
                {
                    "id": person_id,
                    "detected_frames": accumulator.detected_frames,
                    "detection_rate": _ratio(accumulator.detected_frames, processed),
                    "average_visibility": own["average_visibility"],
                    "first_seen_s": round(self.seen[person_id][0], 3),
                    "last_seen_s": round(self.seen[person_id][1], 3),
                    "movement": own["movement"],
                }
            )
        result.update(
            average_visibility=_ratio(self._visibility_sum, self._people_frames),
            people_found=len(people),
            max_people_in_frame=self.max_in_frame,
            mean_people_per_frame=_ratio(self._people_frames, processed),
            main_person_id=main,
            people=people,
        )
        if main is not None:
            result["movement"] = next(p["movement"] for p in people if p["id"] == main)
        return result

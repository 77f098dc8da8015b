"""The pipeline's queues and last stage: the threads hand frames over bounded queues
(`put` gives up when the other side failed, `drain` empties), and `FrameWriter`, the writer
thread: overlay, metrics, encode, mux; it keeps the landmarks for keypoints.json, the
analysis and the exports."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.analysis import angles
from pipeline.motion.world import to_export_axes
from pipeline.pose.steady import SteadyWindow
from pipeline.video.overlay import Overlay
from pipeline.video.sink import VideoSink
from pipeline.video.source import AudioPacket, DecodedFrame

# drawn over a frame of several dancers: (RGB, time in s, [(id, landmarks as drawn)])
Marks = Callable[[np.ndarray, float, list[tuple[int, np.ndarray]]], None]
QUEUE_SIZE = 8  # frames in flight per queue: ~6 MB each at 1080p
END = object()  # the last item of a queue
_HELPER_NICE = 10


def yield_cpu_to_the_model() -> None:
    """Lower this helper thread's priority (Linux: per-thread nice) so that, when the two
    helpers and the model want more CPU than there is, the model, the bottleneck, wins.
    Measured at 1080p on two cores: the model's 90th-percentile frame time 27 -> 24 ms."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HELPER_NICE)
    except (OSError, AttributeError):  # not permitted, or not Linux: run at normal priority
        pass


class FrameWriter:
    """The last stage, in its own thread: overlay, metrics, encode, mux; it keeps each
    frame's landmarks as the model found them (`rows`: landmarks or None, or with `several`,
    `People`) and world landmarks (`world_rows`, in the exports' axes: (33, 3) or None, or
    with `several`, {id: (33, 3)}). With a smoothing `kernel` (`pipeline.pose.steady`) the
    overlay draws the smoothed landmarks: each frame waits for the few frames after it.
    `metrics` None: none kept (a second drawing of the same frames); `marks`: called on each
    frame of several dancers once the overlay is drawn, with its time and the landmarks
    drawn (`pipeline.video.step_marks`)."""

    def __init__(
        self,
        sink: VideoSink,
        metrics: Any,
        overlay: Overlay,
        expected: int,
        *,
        angle_labels: bool = False,
        several: bool = False,
        pts_offset: int = 0,
        kernel: np.ndarray | None = None,
        marks: Marks | None = None,
    ):
        self.sink, self.metrics, self.overlay, self.marks = sink, metrics, overlay, marks
        self.steady = SteadyWindow(np.ones(1) if kernel is None else kernel, several=several)
        self.expected, self.angle_labels, self.several = expected, angle_labels, several
        # A segment's video starts at 0: MP4 keeps a later start in an edit list, in the
        # movie's coarser time scale (ms), which would move its frames; the stitch adds it back.
        self.pts_offset = pts_offset
        self.rows: list[tuple[int, float, Any]] = []
        self.world_rows: list[Any] = []
        self.queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pipeline-write", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, item) -> None:
        if not put(self.queue, item, self.stop):
            raise self.error or RuntimeError("the writer stopped")

    def _run(self) -> None:
        yield_cpu_to_the_model()
        try:
            while (item := self.queue.get()) is not END:
                if isinstance(item, AudioPacket):
                    self._write(self.steady.push(item))
                else:
                    self._keep(*item)
                    self._write(self.steady.push(item[0], item[1]))
            self._write(self.steady.flush())
        except BaseException as exc:
            self.error = exc
            self.stop.set()
            drain(self.queue)

    def _keep(self, frame: DecodedFrame, found: Any, world: Any) -> None:
        if self.metrics is not None:
            self.metrics.add(frame.time_s, found)
        self.rows.append((frame.index, frame.time_s, found))
        if self.several:
            self.world_rows.append({i: to_export_axes(points) for i, points in world.items()})
        else:
            self.world_rows.append(None if world is None else to_export_axes(world))

    def _write(self, released) -> None:
        for item, found in released:
            if isinstance(item, AudioPacket):
                self.sink.write_audio(item.packet)
            else:
                self._draw(item, found)

    def _draw(self, frame: DecodedFrame, found: Any) -> None:
        people = found if self.several else ([] if found is None else [(1, found)])
        for _, landmarks in people if self.angle_labels else ():
            values = angles.compute_angles(
                landmarks[None].astype(np.float64), self.overlay.width, self.overlay.height
            )[0]
            self.overlay.angle_labels(frame.rgb, landmarks, values)
        hud: dict[str, Any] = {
            "frame_index": frame.index,
            "total_frames": self.expected,
            "time_s": frame.time_s,
        }
        if self.several:
            self.overlay.draw_people(frame.rgb, people, **hud)
            if self.marks is not None:
                self.marks(frame.rgb, frame.time_s, people)
        else:
            self.overlay.draw(frame.rgb, found, **hud)
        self.sink.write_frame(frame.rgb, frame.pts - self.pts_offset)

    def finish(self) -> None:
        self.put(END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.sink.close()

    def abort(self) -> None:
        self.stop.set()
        drain(self.queue)
        put(self.queue, END, threading.Event(), timeout=1)
        self.thread.join(timeout=30)
        self.sink.abort()


def put(q: queue.Queue, item, stop: threading.Event, timeout: float | None = None) -> bool:
    """Put, but give up when `stop` is set (the other side failed) instead of blocking."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            if deadline is not None and time.monotonic() > deadline:
                return False
    return False


def drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass

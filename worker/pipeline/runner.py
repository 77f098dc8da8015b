"""The pose-overlay pipeline: decode -> BlazePose -> overlay -> H.264, as three overlapping stages.

    decoder thread ──frames──▶ pose (calling thread) ──frames+landmarks──▶ writer thread
    (demux, decode,             (the model, nothing     (overlay, keypoints.json, metrics,
     upright RGB, audio)         else: the bottleneck)    encode, mux audio)

then, once every frame is written, the analysis of the landmarks and the soundtrack
(`worker.pipeline.analysis`: angles.csv, analysis.json).

PyAV, OpenCV and MediaPipe release the GIL in their heavy calls, so on two cores the model
runs nearly all the time. Queues are bounded: frames never pile up in memory; only the
landmarks (0.5 KB a frame) are kept for the analysis.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from worker.pipeline import angles
from worker.pipeline.analysis import (
    ANALYSIS_JSON,
    ANGLES_CSV,
    AnalysisOptions,
    Performance,
    analyze_performance,
)
from worker.pipeline.keypoints import KeypointsWriter
from worker.pipeline.metrics import MetricsAccumulator
from worker.pipeline.overlay import Overlay
from worker.pipeline.pose import PoseEstimator
from worker.pipeline.sink import VideoSink
from worker.pipeline.source import AudioPacket, DecodedFrame, DecodeStats, Limits, open_video

ANNOTATED_VIDEO = "annotated.mp4"
KEYPOINTS_JSON = "keypoints.json"
SUMMARY_JSON = "summary.json"

_QUEUE_SIZE = 8  # frames in flight per queue: ~6 MB each at 1080p
_HELPER_NICE = 10
_END = object()

ProgressCallback = Callable[[int, int], None]  # (frames done, frames expected; 0 if unknown)


def helper_threads() -> int:
    """Threads for each of the decoder, the encoder and OpenCV: what the model leaves free.

    On two cores every helper gets one thread; more would steal the model's core (measured:
    FFmpeg's and OpenCV's own thread pools cut the pipeline from 42 to 31 frames/s at 1080p).
    """
    return max(1, ((os.cpu_count() or 2) - 1) // 2)


@dataclass(frozen=True)
class PipelineOptions:
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    model_complexity: int = 1
    limits: Limits = Limits()
    video_preset: str = "ultrafast"  # x264; faster presets keep the encoder off the model's core
    video_crf: int = 26  # ultrafast at 26: ~38 dB PSNR, 4 Mbit/s at 1080p30 (see README)
    angle_labels: bool = False  # draw joint angles beside the joints
    analysis: AnalysisOptions | None = AnalysisOptions()  # None: no analysis (benchmarks)


@dataclass(frozen=True)
class PipelineResult:
    """The outputs in one directory, the metrics and the analysis summary."""

    out_dir: Path
    metrics: dict
    analysis: dict | None = None

    @property
    def video_path(self) -> Path:
        return self.out_dir / ANNOTATED_VIDEO

    @property
    def keypoints_path(self) -> Path:
        return self.out_dir / KEYPOINTS_JSON

    @property
    def summary_path(self) -> Path:
        return self.out_dir / SUMMARY_JSON

    @property
    def analysis_path(self) -> Path:
        return self.out_dir / ANALYSIS_JSON

    @property
    def angles_path(self) -> Path:
        return self.out_dir / ANGLES_CSV

    def paths(self) -> tuple[Path, ...]:
        return (
            self.video_path,
            self.keypoints_path,
            self.summary_path,
            self.analysis_path,
            self.angles_path,
        )


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def analyze_video(
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: PipelineOptions = PipelineOptions(),
    on_progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Run the whole pipeline on one file and write the five outputs into `out_dir`.

    Raises a `VideoInputError` subclass for bad input; nothing else is expected.
    """
    started = time.perf_counter()
    threads = helper_threads()
    cv2.setNumThreads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = PipelineResult(out, {}).paths()
    with open_video(input_path, options.limits, threads=threads) as source:
        info = source.info
        expected = info.declared_frames or (
            round(info.duration_s * info.fps) if info.duration_s else 0
        )
        stats = DecodeStats()
        metrics = MetricsAccumulator(
            fps=info.fps, width=info.width - info.width % 2, height=info.height - info.height % 2
        )
        video_meta = {
            **asdict(info),
            "time_base": str(info.time_base),
            "width": metrics.width,
            "height": metrics.height,
            "source_width": info.width,
            "source_height": info.height,
        }
        sink = VideoSink(
            paths[0],
            info,
            source.audio,
            preset=options.video_preset,
            crf=options.video_crf,
            threads=threads,
        )
        keypoints = KeypointsWriter(paths[1], video_meta)
        writer = _Writer(
            sink,
            keypoints,
            metrics,
            Overlay(metrics.width, metrics.height),
            expected,
            angle_labels=options.angle_labels,
        )
        decoded: queue.Queue = queue.Queue(_QUEUE_SIZE)
        stop = threading.Event()
        decoder = threading.Thread(
            target=_decode, args=(source, stats, decoded, stop), name="pipeline-decode", daemon=True
        )
        try:
            with PoseEstimator(
                min_detection_confidence=options.min_detection_confidence,
                min_tracking_confidence=options.min_tracking_confidence,
                model_complexity=options.model_complexity,
            ) as pose:
                decoder.start()
                writer.start()
                _infer(pose, decoded, writer, on_progress, expected)
            writer.finish()
            analysis_started = time.perf_counter()
            analysis = None
            if options.analysis is not None:
                performance = Performance.from_rows(
                    writer.rows, width=metrics.width, height=metrics.height, fps=info.fps
                )
                analysis = analyze_performance(
                    performance, out, audio_source=input_path, options=options.analysis
                )
            analysis_s = time.perf_counter() - analysis_started
        except BaseException:
            stop.set()
            writer.abort()
            for path in paths:  # half-written outputs must not pass for results
                path.unlink(missing_ok=True)
            raise
        finally:
            stop.set()
            _drain(decoded)
            decoder.join(timeout=30)
    total = stats.decoded + stats.failed
    summary = metrics.result(
        total_frames=total,
        failed_frames=stats.failed,
        processing_time_s=time.perf_counter() - started,
    )
    summary["analysis_time_s"] = round(analysis_s, 3)
    paths[2].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return PipelineResult(out, metrics=summary, analysis=analysis)


def _yield_cpu_to_the_model() -> None:
    """Lower this helper thread's priority (Linux: per-thread nice) so that, when the two
    helpers and the model want more CPU than there is, the model, the bottleneck, wins.
    Measured at 1080p on two cores: the model's 90th-percentile frame time 27 -> 24 ms."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HELPER_NICE)
    except (OSError, AttributeError):  # not permitted, or not Linux: run at normal priority
        pass


def _decode(source, stats: DecodeStats, out: queue.Queue, stop: threading.Event) -> None:
    _yield_cpu_to_the_model()
    try:
        for item in source.items(stats):
            if not _put(out, item, stop):
                return
        _put(out, _END, stop)
    except BaseException as exc:  # handed to the calling thread, which raises it
        _put(out, _Failure(exc), stop)


def _infer(
    pose: PoseEstimator,
    decoded: queue.Queue,
    writer: _Writer,
    on_progress: ProgressCallback | None,
    expected: int,
) -> None:
    done = 0
    while True:
        item = decoded.get()
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise item.exc
        if isinstance(item, DecodedFrame):
            writer.put((item, pose.estimate(item.rgb)))
            done += 1
            if on_progress is not None:
                on_progress(done, max(expected, done))
        else:
            writer.put(item)


class _Writer:
    """The last stage, in its own thread: overlay, keypoints, metrics, encode, mux; it keeps
    each frame's landmarks (`rows`) for the analysis."""

    def __init__(
        self,
        sink: VideoSink,
        keypoints: KeypointsWriter,
        metrics: MetricsAccumulator,
        overlay: Overlay,
        expected: int,
        *,
        angle_labels: bool = False,
    ):
        self.sink, self.keypoints, self.metrics, self.overlay = sink, keypoints, metrics, overlay
        self.expected, self.angle_labels = expected, angle_labels
        self.rows: list[tuple[int, float, np.ndarray | None]] = []
        self.queue: queue.Queue = queue.Queue(_QUEUE_SIZE)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pipeline-write", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, item) -> None:
        if not _put(self.queue, item, self.stop):
            raise self.error or RuntimeError("the writer stopped")

    def _run(self) -> None:
        _yield_cpu_to_the_model()
        try:
            while (item := self.queue.get()) is not _END:
                if isinstance(item, AudioPacket):
                    self.sink.write_audio(item.packet)
                else:
                    self._frame(*item)
        except BaseException as exc:
            self.error = exc
            self.stop.set()
            _drain(self.queue)

    def _frame(self, frame: DecodedFrame, landmarks: np.ndarray | None) -> None:
        self.keypoints.add(frame.index, frame.time_s, landmarks)
        self.metrics.add(frame.time_s, landmarks)
        self.rows.append((frame.index, frame.time_s, landmarks))
        if self.angle_labels and landmarks is not None:
            values = angles.compute_angles(
                landmarks[None].astype(np.float64), self.overlay.width, self.overlay.height
            )[0]
            self.overlay.angle_labels(frame.rgb, landmarks, values)
        self.overlay.draw(
            frame.rgb,
            landmarks,
            frame_index=frame.index,
            total_frames=self.expected,
            time_s=frame.time_s,
        )
        self.sink.write_frame(frame.rgb, frame.pts)

    def finish(self) -> None:
        self.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.keypoints.close()
        self.sink.close()

    def abort(self) -> None:
        self.stop.set()
        _drain(self.queue)
        _put(self.queue, _END, threading.Event(), timeout=1)
        self.thread.join(timeout=30)
        self.keypoints.abort()
        self.sink.abort()


def _put(q: queue.Queue, item, stop: threading.Event, timeout: float | None = None) -> bool:
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


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass

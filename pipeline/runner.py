"""The pose-overlay pipeline: decode -> BlazePose -> overlay -> H.264, as three overlapping stages.

    decoder thread ──frames──▶ pose (calling thread) ──frames+landmarks──▶ writer thread
    (demux, decode,             (the model, nothing     (overlay, metrics,
     upright RGB, audio)         else: the bottleneck)    encode, mux audio)

then, once every frame is written, keypoints.json and the motion exports
(`pipeline.pose.landmark_outputs`: world landmarks smoothed, motion.bvh, markers.trc,
world_landmarks.csv) and the analysis of the landmarks and the soundtrack
(`pipeline.analysis.performance`: angles.csv, analysis.json).

PyAV, OpenCV and MediaPipe release the GIL in their heavy calls, so on two cores the model
runs nearly all the time. Queues are bounded: frames never pile up in memory; only the
landmarks (0.5 KB a frame) are kept for the analysis.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.analysis.movement_metrics import MetricsAccumulator, PeopleMetrics
from pipeline.analysis.performance import ANALYSIS_JSON, ANGLES_CSV, AnalysisOptions
from pipeline.analysis.rows import analyze_rows
from pipeline.motion.exports import Exports, remove_exports
from pipeline.pose.blazepose import PoseEstimator
from pipeline.pose.bundle import bundle_path
from pipeline.pose.landmark_outputs import write_landmark_outputs
from pipeline.pose.models import PoseModelFile
from pipeline.pose.models import require as require_model
from pipeline.pose.steady import weights as smoothing_weights
from pipeline.segments.cuts import Segment, segment_frames
from pipeline.stages import (
    END,
    QUEUE_SIZE,
    FrameWriter,
    Marks,
    drain,
    put,
    yield_cpu_to_the_model,
)
from pipeline.video.overlay import Overlay
from pipeline.video.sink import VideoSink
from pipeline.video.source import (
    DecodedFrame,
    DecodeStats,
    Limits,
    VideoInfo,
    open_video,
)
from pipeline.video.step_marks import mark_steps
from shared.outputs import EXPORT_FORMATS, JOB_OUTPUTS, KEYPOINTS, SUMMARY, VIDEO

# the files a run writes, named by the registry of outputs (`shared.outputs`)
ANNOTATED_VIDEO = VIDEO.file_name
KEYPOINTS_JSON = KEYPOINTS.file_name
SUMMARY_JSON = SUMMARY.file_name


ProgressCallback = Callable[[int, int], None]  # (frames done, frames expected; 0 if unknown)
People = list[tuple[int, np.ndarray]]  # (person id, (33, 4) landmarks), ordered by id


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
    model: str = "full"  # the pose model: lite, full or heavy (`pipeline.pose.models`)
    smoothing: str = "light"  # the overlay's and the smoothed copy's (`pipeline.pose.steady`)
    limits: Limits = Limits()
    video_preset: str = "ultrafast"  # x264; faster presets keep the encoder off the model's core
    video_crf: int = 26  # ultrafast at 26: ~38 dB PSNR, 4 Mbit/s at 1080p30 (docs/figures.md)
    angle_labels: bool = False  # draw joint angles beside the joints
    max_people: int = 1  # 1: BlazePose's single-person solution; more: `multi_pose`, schema 4
    analysis: AnalysisOptions | None = AnalysisOptions()  # None: no analysis (benchmarks)
    exports: tuple[str, ...] = EXPORT_FORMATS  # motion files: any of "bvh", "trc", "csv"
    step_marks: bool = True  # several dancers: in/out of step drawn in once the group is known


@dataclass(frozen=True)
class PipelineResult:
    """The outputs in one directory, the metrics and the analysis summary."""

    out_dir: Path
    metrics: dict
    analysis: dict | None = None
    exports: Exports = Exports()

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

    def output_paths(self) -> dict[str, Path]:
        """Each output of `shared.outputs.JOB_OUTPUTS` by its name: where this run wrote it."""
        return {output.name: self.out_dir / output.file_name for output in JOB_OUTPUTS}

    def paths(self) -> tuple[Path, ...]:
        return tuple(self.output_paths().values())

    def export_paths(self) -> tuple[Path, ...]:
        """The motion files written (`exports`), in the out directory."""
        return tuple(self.out_dir / item.name for item in self.exports.files)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def analyze_video(
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: PipelineOptions = PipelineOptions(),
    on_progress: ProgressCallback | None = None,
    *,
    segment: Segment | None = None,
) -> PipelineResult:
    """Run the whole pipeline on one file and write the five outputs and the motion exports
    of `options.exports` into `out_dir`.

    With `segment`, only that part of the video (`pipeline.segments.cuts`): its
    annotated.mp4 without sound, its keypoints.json and summary.json, no analysis and no
    exports; `pipeline.segments.stitch` makes the whole outputs from the segments'.

    Raises a `VideoInputError` subclass for bad input, `ModelUnavailable` when the pose model
    asked for is not installed (`pipeline.pose.models`); nothing else is expected.
    """
    model = require_model(options.model)  # before anything is read or written
    if segment is not None and options.max_people > 1:
        raise ValueError("a video with several dancers is not split: ids must carry across cuts")
    started = time.perf_counter()
    threads = helper_threads()
    cv2.setNumThreads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = PipelineResult(out, {}).paths()
    several = options.max_people > 1
    with open_video(input_path, options.limits, threads=threads) as source:
        info = source.info
        expected = info.declared_frames or (
            round(info.duration_s * info.fps) if info.duration_s else 0
        )
        if segment is not None:
            expected = segment.first_frame + segment.frames  # the HUD counts the whole video
        stats = DecodeStats()
        width, height = info.width - info.width % 2, info.height - info.height % 2
        metrics: MetricsAccumulator | PeopleMetrics = (
            PeopleMetrics(info.fps, width, height)
            if several
            else MetricsAccumulator(fps=info.fps, width=width, height=height)
        )
        video_meta = {
            **asdict(info),
            "time_base": str(info.time_base),
            "width": metrics.width,
            "height": metrics.height,
            "source_width": info.width,
            "source_height": info.height,
            **({"max_people": options.max_people} if several else {}),
        }
        sink = VideoSink(
            paths[0],
            info,
            source.audio if segment is None else None,
            preset=options.video_preset,
            crf=options.video_crf,
            threads=threads,
        )
        kernel = smoothing_weights(info.fps, options.smoothing)

        def drawing(sink: VideoSink, marks: Marks | None = None) -> FrameWriter:
            """The last stage; with `marks`, drawing the video again (`step_marks`)."""
            return FrameWriter(
                sink,
                metrics if marks is None else None,
                Overlay(metrics.width, metrics.height),
                expected,
                angle_labels=options.angle_labels,
                several=several,
                pts_offset=segment.start_pts if segment is not None else 0,
                kernel=kernel,
                marks=marks,
            )

        writer = drawing(sink)
        decoded: queue.Queue = queue.Queue(QUEUE_SIZE)
        stop = threading.Event()
        decoder = threading.Thread(
            target=_decode,
            args=(source, stats, decoded, stop, segment),
            name="pipeline-decode",
            daemon=True,
        )
        try:
            with _estimator(options, info, model) as estimate:
                decoder.start()
                writer.start()
                frames = segment.frames if segment is not None else expected
                _infer(estimate, decoded, writer, on_progress, frames)
            writer.finish()
            motion_started = time.perf_counter()
            exports = write_landmark_outputs(
                out,
                paths[1],
                video_meta,
                writer.rows,
                writer.world_rows,
                several=several,
                fps=info.fps,
                formats=options.exports,
                model=options.model,
                smoothing=options.smoothing,
                whole=segment is None,
            )
            motion_s = time.perf_counter() - motion_started
            analysis_started = time.perf_counter()
            analysis = None
            if options.analysis is not None and segment is None:
                analysis = analyze_rows(
                    writer.rows, metrics, info.fps, input_path, out, options.analysis
                )
            analysis_s = time.perf_counter() - analysis_started
            marks_started = time.perf_counter()
            marked = bool(options.step_marks and analysis and analysis.get("group")) and mark_steps(
                input_path,
                paths[0],
                out / ANALYSIS_JSON,
                writer.rows,
                writer=drawing,
                limits=options.limits,
                preset=options.video_preset,
                crf=options.video_crf,
                threads=threads,
            )
            marks_s = time.perf_counter() - marks_started
        except BaseException:
            stop.set()
            writer.abort()
            for path in paths:  # half-written outputs must not pass for results
                path.unlink(missing_ok=True)
            remove_exports(out)
            raise
        finally:
            stop.set()
            drain(decoded)
            decoder.join(timeout=30)
    total = stats.decoded + stats.failed
    summary = metrics.result(
        total_frames=total,
        failed_frames=stats.failed,
        processing_time_s=time.perf_counter() - started,
    )
    summary["analysis_time_s"] = round(analysis_s, 3)
    summary["model"] = options.model  # the pose model that made the landmarks
    summary["smoothing"] = options.smoothing
    if analysis and analysis.get("group"):  # several dancers: how in step (analysis.json)
        summary["group_sync_score"] = analysis["group"]["score"]
    if marked:  # the in/out of step markers drawn into annotated.mp4 (`step_marks`)
        summary["step_marks_time_s"] = round(marks_s, 3)
    # keypoints.json, the world landmarks' smoothing and the motion exports
    summary["motion_time_s"] = round(motion_s, 3)
    if segment is not None:
        summary["segment"] = asdict(segment)
    paths[2].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return PipelineResult(out, metrics=summary, analysis=analysis, exports=exports)


@contextlib.contextmanager
def _estimator(
    options: PipelineOptions, info: VideoInfo, model: PoseModelFile
) -> Iterator[Callable[[Any], Any]]:
    """The model, as a function of a decoded frame: its landmarks or None and its world
    landmarks or None (one dancer), or its `People` and their world landmarks by id
    (several)."""
    if options.max_people <= 1:
        with PoseEstimator(
            min_detection_confidence=options.min_detection_confidence,
            min_tracking_confidence=options.min_tracking_confidence,
            model_complexity=model.complexity,
            smooth_landmarks=options.smoothing == "none",  # else ours, without its lag
        ) as pose:
            yield lambda frame: (pose.estimate(frame.rgb), pose.world)
        return
    from pipeline.people.multi_pose import MultiPoseEstimator

    with MultiPoseEstimator(
        info.width,
        info.height,
        max_people=options.max_people,
        min_detection_confidence=options.min_detection_confidence,
        min_tracking_confidence=options.min_tracking_confidence,
        bundle=bundle_path(model=model.name),
    ) as multi:
        last_ms = -1

        def estimate(frame: DecodedFrame) -> tuple[People, dict[int, np.ndarray]]:
            nonlocal last_ms  # the Tasks API wants strictly growing timestamps
            last_ms = max(int(round(frame.time_s * 1000)), last_ms + 1)
            return multi.estimate(frame.rgb, last_ms), multi.world

        yield estimate


def _decode(
    source, stats: DecodeStats, out: queue.Queue, stop: threading.Event, segment: Segment | None
) -> None:
    yield_cpu_to_the_model()
    items = source.items(stats) if segment is None else segment_frames(source, segment, stats)
    try:
        for item in items:
            if not put(out, item, stop):
                return
        put(out, END, stop)
    except BaseException as exc:  # handed to the calling thread, which raises it
        put(out, _Failure(exc), stop)


def _infer(
    estimate: Callable[[DecodedFrame], Any],
    decoded: queue.Queue,
    writer: FrameWriter,
    on_progress: ProgressCallback | None,
    expected: int,
) -> None:
    done = 0
    while True:
        item = decoded.get()
        if item is END:
            return
        if isinstance(item, _Failure):
            raise item.exc
        if isinstance(item, DecodedFrame):
            found, world = estimate(item)
            if item.warmup:
                continue  # the model has seen it; it is not the segment's to write
            writer.put((item, found, world))
            done += 1
            if on_progress is not None:
                on_progress(done, max(expected, done))
        else:
            writer.put(item)

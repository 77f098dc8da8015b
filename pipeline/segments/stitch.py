"""Put a video's segments back together (`pipeline.segments.cuts`), as one run over the
whole video would have made its outputs:

- annotated.mp4: the segments' H.264 packets one after the other in one MP4 (no
  re-encoding: they were encoded with the same settings, so they share one decoder
  configuration, which is checked), with the input's audio interleaved once, continuous;
- keypoints.json: the segments' frames in order (their indices and times are already the
  whole video's), the world landmarks smoothed over the whole video;
- summary.json, analysis.json, angles.csv and the motion exports: computed from all the
  frames' landmarks.

One dancer only: with several, each segment would number its dancers from 1 and draw those
numbers into its video, which no stitch can make agree afterwards.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.analysis.movement_metrics import MetricsAccumulator
from pipeline.analysis.rows import analyze_rows
from pipeline.errors import CorruptVideo
from pipeline.motion.exports import remove_exports
from pipeline.pose.keypoints import landmarks_array, world_array
from pipeline.pose.landmark_outputs import write_landmark_outputs
from pipeline.runner import (
    ANNOTATED_VIDEO,
    KEYPOINTS_JSON,
    SUMMARY_JSON,
    PipelineOptions,
    PipelineResult,
)
from pipeline.video.sink import AudioOut
from pipeline.video.source import open_video


def stitch(
    input_path: str | os.PathLike,
    segment_dirs: list[Path],
    out_dir: str | os.PathLike,
    options: PipelineOptions,
    *,
    elapsed_s: float = 0.0,
) -> PipelineResult:
    """The five outputs and the motion exports in `out_dir` from the segments' outputs (in
    order). `elapsed_s`: the
    time the segments took, wall clock, for `processing_time_s`."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = PipelineResult(out, {}).paths()
    documents = [json.loads((d / KEYPOINTS_JSON).read_text("utf-8")) for d in segment_dirs]
    summaries = [json.loads((d / SUMMARY_JSON).read_text("utf-8")) for d in segment_dirs]
    try:
        with open_video(input_path, options.limits) as source:
            info = source.info
            concat_videos(
                [d / ANNOTATED_VIDEO for d in segment_dirs],
                source.audio,
                paths[0],
                starts=[summary["segment"]["start_pts"] * info.time_base for summary in summaries],
            )
        video = documents[0]["video"]
        metrics = MetricsAccumulator(fps=info.fps, width=video["width"], height=video["height"])
        rows: list[tuple[int, float, np.ndarray | None]] = []
        world_rows: list[np.ndarray | None] = []
        for document in documents:
            for frame in document["frames"]:
                points = frame["landmarks"]
                found = None if points is None else landmarks_array(points)
                metrics.add(frame["time_s"], found)
                rows.append((frame["frame"], frame["time_s"], found))
                world_rows.append(world_array(frame.get("world_landmarks")))
        exports = write_landmark_outputs(
            out,
            paths[1],
            video,
            rows,
            world_rows,
            several=False,
            fps=info.fps,
            formats=options.exports,
            model=options.model,
            smoothing=options.smoothing,
        )
        analysis_started = time.perf_counter()
        analysis = None
        if options.analysis is not None:
            analysis = analyze_rows(rows, metrics, info.fps, input_path, out, options.analysis)
        analysis_s = time.perf_counter() - analysis_started
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        remove_exports(out)
        raise
    failed = sum(summary["failed_frames"] for summary in summaries)
    summary = metrics.result(
        total_frames=len(rows) + failed,
        failed_frames=failed,
        processing_time_s=elapsed_s + time.perf_counter() - started,
    )
    summary["analysis_time_s"] = round(analysis_s, 3)
    summary["model"] = options.model  # the pose model that made the landmarks
    summary["smoothing"] = options.smoothing
    summary["segments"] = len(segment_dirs)
    paths[2].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return PipelineResult(out, metrics=summary, analysis=analysis, exports=exports)


def concat_videos(
    segments: list[Path],
    audio: av.AudioStream | None,
    destination: str | os.PathLike,
    *,
    starts: list[Fraction] | None = None,
) -> None:
    """The segments' video packets in order, without decoding them, and the `audio` track
    (copied, or transcoded to AAC), interleaved by time, in one MP4 (+faststart). `starts`:
    each segment's start time (s), added to its packets' timestamps (segments start at 0)."""
    inputs = [av.open(os.fspath(path)) for path in segments]
    try:
        streams = [container.streams.video[0] for container in inputs]
        first = streams[0].codec_context
        for stream in streams[1:]:
            context = stream.codec_context
            if (context.extradata, context.width, context.height) != (
                first.extradata,
                first.width,
                first.height,
            ):
                raise CorruptVideo("the segments were encoded differently: not joined")
        with av.open(
            os.fspath(destination), "w", format="mp4", options={"movflags": "+faststart"}
        ) as output:
            video_out = output.add_stream_from_template(streams[0])
            audio_out = None if audio is None else AudioOut(output, audio)
            shifts = [
                round(start / (stream.time_base or Fraction(1, 90000)))
                for start, stream in zip(
                    starts or [Fraction(0)] * len(streams), streams, strict=True
                )
            ]
            video_packets = (
                item
                for container, stream, shift in zip(inputs, streams, shifts, strict=True)
                for item in _timed(container, stream, 0, shift)
            )
            audio_packets: Iterator = iter(())
            if audio is not None:
                audio_packets = _timed(audio.container, audio, 1)
            for _, kind, packet in heapq.merge(video_packets, audio_packets, key=_order):
                if kind == 0:
                    packet.stream = video_out
                    output.mux(packet)
                elif audio_out is not None:
                    audio_out.write(packet)
            if audio_out is not None:
                audio_out.flush()
    finally:
        for container in inputs:
            container.close()


def _order(item: tuple[float, int, av.Packet]) -> tuple[float, int]:
    return item[0], item[1]


def _timed(container, stream, kind: int, shift: int = 0) -> Iterator[tuple[float, int, av.Packet]]:
    """(decode time in s, kind, packet) of the stream's packets, in file order, their
    timestamps moved on by `shift` (in the stream's time base)."""
    for packet in container.demux(stream):
        if packet.size and packet.dts is not None and packet.time_base is not None:
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
            yield float(packet.dts * packet.time_base), kind, packet

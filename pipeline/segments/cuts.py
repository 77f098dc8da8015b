"""A long video in segments: where to cut it, and how to decode one segment.

    plan_segments(path)  demux only (no decoding): the video packets' times and keyframes;
                         cuts at the keyframes nearest every `segment_s` seconds
    segment_frames(...)  one segment's frames, decoded from a keyframe a warm-up before it:
                         the model sees the warm-up frames (flagged `warmup`, not written),
                         so its tracking has settled by the segment's first frame

A segment's frames carry the same timestamps and indices as in a run over the whole video:
`first_frame` counts the video packets before it (one frame each). `pipeline.segments.stitch`
puts the segments' outputs back together.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av

from pipeline.errors import CorruptVideo
from pipeline.video.source import (
    DecodedFrame,
    DecodeStats,
    VideoSource,
    decode_packet,
    upright,
)

WARMUP_S = 2.0  # the model runs this long before a segment's first frame


@dataclass(frozen=True)
class Segment:
    """Frames with `start_pts` <= pts < `end_pts` (None: to the end), in the video stream's
    time base; `first_frame`: how many frames come before it; `frames`: how many it holds."""

    index: int
    start_pts: int
    end_pts: int | None
    first_frame: int
    frames: int
    start_s: float
    end_s: float | None


def plan_segments(path: str | os.PathLike, *, segment_s: float, min_s: float) -> list[Segment]:
    """Cut points at keyframes, about `segment_s` apart; one segment for a video shorter than
    `min_s`, without keyframes to cut at, or whose packets carry no timestamps."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90000)
        packets = [
            (packet.pts, bool(packet.is_keyframe))
            for packet in container.demux(stream)
            if packet.size
        ]
    if not packets or any(pts is None for pts, _ in packets):
        return [_whole(len(packets))]
    times = sorted(cast(int, pts) for pts, _ in packets)
    keyframes = sorted(cast(int, pts) for pts, key in packets if key)
    duration = float((times[-1] - times[0]) * time_base)
    if duration < min_s or len(keyframes) < 2:
        return [_whole(len(times), times[0], time_base)]
    cuts = [times[0]]
    count = max(1, round(duration / segment_s))
    for k in range(1, count):
        target = times[0] + k * segment_s / time_base
        nearest = min(keyframes, key=lambda pts: abs(pts - target))
        if nearest > cuts[-1]:
            cuts.append(int(nearest))
    segments = []
    for index, start in enumerate(cuts):
        end = cuts[index + 1] if index + 1 < len(cuts) else None
        first = bisect.bisect_left(times, start)
        frames = (bisect.bisect_left(times, end) if end is not None else len(times)) - first
        segments.append(
            Segment(
                index=index,
                start_pts=start,
                end_pts=end,
                first_frame=first,
                frames=frames,
                start_s=float(start * time_base),
                end_s=None if end is None else float(end * time_base),
            )
        )
    return segments


def _whole(frames: int, start: int = 0, time_base: Fraction = Fraction(1)) -> Segment:
    return Segment(0, start, None, 0, frames, float(start * time_base), None)


def segment_frames(
    source: VideoSource, segment: Segment, stats: DecodeStats, *, warmup_s: float = WARMUP_S
) -> Iterator[DecodedFrame]:
    """Decode the segment's frames (and the warm-up before it: `warmup=True`), upright, with
    their indices in the whole video. Frames failing to decode are skipped and counted."""
    info, stream = source.info, source.stream
    warm_from = segment.start_pts - math.ceil(warmup_s / info.time_base)
    if segment.index > 0:
        source.container.seek(max(warm_from, 0), stream=stream, backward=True)
    index = segment.first_frame
    try:
        for packet in source.container.demux(stream):
            for frame in decode_packet(packet, stats):
                if frame.pts is None:
                    stats.failed += 1
                    continue
                if segment.end_pts is not None and frame.pts >= segment.end_pts:
                    return
                if frame.pts < warm_from:
                    continue  # decoded for the next ones, not shown to the model
                warmup = frame.pts < segment.start_pts
                rgb = upright(frame.to_ndarray(format="rgb24"), info.rotation)
                time_s = float(frame.pts * info.time_base)
                if not warmup:
                    stats.decoded += 1
                    stats.last_time_s = time_s
                yield DecodedFrame(index, frame.pts, time_s, rgb, warmup=warmup)
                index += 0 if warmup else 1
    except av.error.FFmpegError as exc:
        raise CorruptVideo(f"segment {segment.index} could not be read: {exc}") from exc

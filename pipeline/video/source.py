"""Open, validate and decode an input video, frame by frame, upright.

`open_video` refuses, with a typed `VideoInputError`, everything the container and stream
headers give away before any frame is decoded: a hostile file must cost neither memory nor model
time before it is refused. Every decoder also gets a pixel cap (FFmpeg's `max_pixels`), so not
even FFmpeg's own stream probe allocates a giant frame. `VideoSource.items()` then yields RGB
frames with the phone's rotation applied, skipping (and counting) frames that fail to decode,
and checks the limits again where a header lied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
import numpy as np

from pipeline.errors import (
    CorruptVideo,
    DimensionsOutOfRange,
    EmptyFile,
    FrameRateTooHigh,
    NotAVideo,
    NoVideoStream,
    TooManyFrames,
    TruncatedVideo,
    UnsupportedCodec,
    VideoTooLong,
)
from shared.media_types import SNIFF_BYTES, sniff_container

# FFmpeg demuxers that read still images; a photo is not a dance video.
_IMAGE_FORMATS = ("image2", "_pipe", "gif", "apng", "webp")
MIN_SIDE = 16
# A file that decodes to less than this share of the frames its header declares is truncated.
_TRUNCATED_BELOW = 0.9
# Decoders pad frames (coded sizes round up to 16 rows, buffers to 64 columns): the decoders'
# pixel cap is `Limits.max_pixels` plus this many lines of `Limits.max_side` pixels.
_DECODER_PADDING = 128
# The decoded frame rate is checked once this much video has played, and allowed this much
# above `Limits.max_fps` for the short bursts of variable-frame-rate phone videos.
_RATE_CHECK_AFTER_S = 2.0
_RATE_SLACK = 1.25


@dataclass(frozen=True)
class Limits:
    """What one input may cost; anything beyond is refused."""

    max_duration_s: float = 600.0
    max_side: int = 4096
    max_pixels: int = 3840 * 2160
    max_frames: int = 18_000  # 10 min at 30 fps
    max_fps: float = 120.0


@dataclass(frozen=True)
class VideoInfo:
    """What the input claims to be. Width and height are as displayed (after rotation)."""

    container: str
    codec: str
    width: int
    height: int
    rotation: int  # degrees counter-clockwise to display upright: 0, 90, 180 or 270
    fps: float
    time_base: Fraction
    declared_frames: int  # 0 when the container does not say
    duration_s: float | None
    audio_codec: str | None
    color_primaries: int = 2  # FFmpeg's codes; 2 is "unspecified"
    color_trc: int = 2


@dataclass
class DecodedFrame:
    index: int  # position among the frames that decoded
    pts: int  # in VideoInfo.time_base, strictly increasing
    time_s: float
    rgb: np.ndarray  # H x W x 3 uint8, upright
    warmup: bool = False  # a segment's warm-up: shown to the model only (`segments`)


@dataclass
class DecodeStats:
    decoded: int = 0
    failed: int = 0
    last_time_s: float = 0.0


@dataclass
class AudioPacket:
    """An audio packet passed through to the output, untouched."""

    packet: av.Packet


def open_video(
    path: str | os.PathLike, limits: Limits = Limits(), *, threads: int = 1
) -> VideoSource:
    """Open `path` and validate it, raising a `VideoInputError` subclass on bad input.

    The headers are checked before any frame is decoded; only then is the first frame decoded,
    for the rotation. `threads` is the decoder's thread count (frame threading when above one).
    """
    container = _open_container(path, limits)
    try:
        stream = _video_stream(container)
        _check_header(container, stream, limits)
        rotation = _first_frame_rotation(path, limits)
        return VideoSource(container, stream, limits, rotation=rotation, threads=threads)
    except BaseException:
        container.close()
        raise


def _open_container(path: str | os.PathLike, limits: Limits) -> av.container.InputContainer:
    """`av.open` with the decoders' pixel cap; raises EmptyFile, NotAVideo or CorruptVideo."""
    if os.path.getsize(path) == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    try:
        return av.open(os.fspath(path), metadata_errors="ignore", options=_decoder_options(limits))
    except av.error.FFmpegError as exc:
        if sniff_container(head):
            raise CorruptVideo(f"the video container cannot be read ({_reason(exc)})") from exc
        raise NotAVideo("the file is not a video this service can read") from exc


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The first video stream; raises NotAVideo, NoVideoStream or UnsupportedCodec."""
    if any(
        container.format.name.endswith(f) or container.format.name == f.strip("_")
        for f in _IMAGE_FORMATS
    ):
        raise NotAVideo(f"the file is a still image ({container.format.name}), not a video")
    if not container.streams.video:
        raise NoVideoStream("the file has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name:
        raise UnsupportedCodec("the video codec is not supported")
    return stream


def _check_header(
    container: av.container.InputContainer, stream: av.VideoStream, limits: Limits
) -> None:
    """Refuse what the headers say is too big, too fast, too many frames or too long."""
    # The coded size, before rotation: the dimension limits are the same either way round.
    _check_dimensions(stream.codec_context.width, stream.codec_context.height, limits)
    fps = _header_rate(stream)
    if fps is not None and fps > limits.max_fps:
        raise FrameRateTooHigh(
            f"the video runs at {fps:.4g} frames/s; the limit is {limits.max_fps:g}"
        )
    duration_s = _duration_s(container, stream)
    frames = _header_frames(stream, duration_s, fps)
    if frames is not None and frames > limits.max_frames:
        raise TooManyFrames(f"the video holds {frames} frames; the limit is {limits.max_frames}")
    if duration_s is not None and duration_s > limits.max_duration_s:
        raise VideoTooLong(
            f"the video lasts {duration_s:.1f} s; the limit is {limits.max_duration_s:g} s"
        )


def _check_dimensions(width: int, height: int, limits: Limits) -> None:
    """Refuse a size outside the limits (the same either way round)."""
    if (
        min(width, height) < MIN_SIDE
        or max(width, height) > limits.max_side
        or (width * height > limits.max_pixels)
    ):
        raise DimensionsOutOfRange(
            f"{width}x{height} is outside the accepted range: sides {MIN_SIDE}.."
            f"{limits.max_side} px and at most {limits.max_pixels} pixels"
        )


class VideoSource:
    """An input that passed `open_video`'s checks: a context manager; iterate `items()` once."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        limits: Limits,
        *,
        rotation: int = 0,
        threads: int = 1,
    ):
        self.container = container
        self.stream = stream
        self.limits = limits
        self.rotation = rotation
        codec_context = stream.codec_context
        # av.open's options reach only FFmpeg's probe: this decoder needs its own pixel cap.
        codec_context.options = {**codec_context.options, **_decoder_options(limits)}
        if threads > 1:
            stream.thread_type = "AUTO"
        codec_context.thread_count = threads
        # Audio FFmpeg cannot decode is left out rather than failing the video.
        self.audio = next((a for a in container.streams.audio if a.codec_context is not None), None)
        self.info = self._describe()

    def _describe(self) -> VideoInfo:
        stream = self.stream
        width, height = stream.codec_context.width, stream.codec_context.height
        if self.rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate and 0 < float(rate) <= 1000 else 30.0
        video_duration_s = _video_duration(stream)
        duration_s = _duration_s(self.container, stream)
        # The container's duration spans audio too: trust it for truncation only without audio.
        self._expected_s = video_duration_s if video_duration_s or self.audio else duration_s
        return VideoInfo(
            container=self.container.format.name,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=self.rotation,
            fps=round(fps, 3),
            time_base=stream.time_base or Fraction(1, 90000),
            declared_frames=max(stream.frames or 0, 0),
            duration_s=duration_s,
            audio_codec=self.audio.codec_context.name if self.audio else None,
            color_primaries=int(stream.codec_context.color_primaries or 2),
            color_trc=int(stream.codec_context.color_trc or 2),
        )

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def items(self, stats: DecodeStats) -> Iterator[DecodedFrame | AudioPacket]:
        """Demux once: yield upright decoded frames and the audio packets, in file order.

        Frames that fail to decode are skipped and counted in `stats.failed`. Raises
        `TruncatedVideo`, `CorruptVideo`, `VideoTooLong`, `TooManyFrames`, `FrameRateTooHigh`
        or `DimensionsOutOfRange` when the file turns out worse than its header said.
        """
        info, tb = self.info, self.info.time_base
        streams = [self.stream] + ([self.audio] if self.audio else [])
        first_time_s = last_pts = None
        try:
            for packet in self.container.demux(streams):
                if packet.stream is self.audio:
                    if packet.size and packet.pts is not None:
                        yield AudioPacket(packet)
                    continue
                for frame in decode_packet(packet, stats):
                    pts = frame.pts
                    if pts is None:  # some AVI files: derive from the frame rate
                        pts = round(stats.decoded / info.fps / tb)
                    if last_pts is not None and pts <= last_pts:
                        pts = last_pts + 1
                    last_pts = pts
                    time_s = float(pts * tb)
                    if first_time_s is None:
                        first_time_s = time_s
                    stats.decoded += 1
                    stats.last_time_s = time_s
                    self._check_decoded(frame, stats, played_s=time_s - first_time_s)
                    rgb = frame.to_ndarray(format="rgb24")  # swscale's SIMD path
                    yield DecodedFrame(stats.decoded - 1, pts, time_s, upright(rgb, info.rotation))
        except av.error.FFmpegError as exc:
            if stats.decoded == 0:
                raise CorruptVideo(f"no frame could be read ({_reason(exc)})") from exc
            raise TruncatedVideo(
                f"the file breaks off after frame {stats.decoded} ({_reason(exc)})"
            ) from exc
        self._check_complete(stats)

    def _check_decoded(self, frame: av.VideoFrame, stats: DecodeStats, played_s: float) -> None:
        """Refuse, before converting it, a frame beyond what the headers promised."""
        limits = self.limits
        _check_dimensions(frame.width, frame.height, limits)
        seen = stats.decoded + stats.failed
        if seen > limits.max_frames:
            raise TooManyFrames(
                f"the video holds at least {seen} frames; the limit is {limits.max_frames}"
            )
        if played_s >= _RATE_CHECK_AFTER_S:
            fps = (stats.decoded - 1) / played_s
            if fps > limits.max_fps * _RATE_SLACK:
                raise FrameRateTooHigh(
                    f"the video runs at {fps:.4g} frames/s; the limit is {limits.max_fps:g}"
                )
        if stats.last_time_s - self._start_s() > limits.max_duration_s:
            raise VideoTooLong(f"the video runs past the limit of {limits.max_duration_s:g} s")

    def _start_s(self) -> float:
        start = self.stream.start_time
        return float(start * self.info.time_base) if start is not None else 0.0

    def _check_complete(self, stats: DecodeStats) -> None:
        info = self.info
        if stats.decoded == 0:
            raise CorruptVideo("the video stream holds no decodable frame")
        if stats.failed > max(2, stats.decoded):
            raise CorruptVideo(f"{stats.failed} frames failed to decode, {stats.decoded} did")
        seen = stats.decoded + stats.failed
        if info.declared_frames and seen < _TRUNCATED_BELOW * info.declared_frames:
            raise TruncatedVideo(
                f"the header declares {info.declared_frames} frames but the file holds {seen}"
            )
        played = stats.last_time_s - self._start_s() + 1 / info.fps
        if self._expected_s and played < _TRUNCATED_BELOW * self._expected_s:
            raise TruncatedVideo(
                f"the header declares {self._expected_s:.2f} s but the file holds {played:.2f} s"
            )


def _first_frame_rotation(path: str | os.PathLike, limits: Limits) -> int:
    """The display rotation, which PyAV exposes on decoded frames: read off the first one.

    A separate short-lived container, so the main pass never has to seek back; its decoder has
    the same pixel cap. Call it only once the headers have passed `_check_header`.
    """
    rotation = 0
    options = _decoder_options(limits)
    try:
        with av.open(os.fspath(path), metadata_errors="ignore", options=options) as container:
            if container.streams.video:
                stream = container.streams.video[0]
                stream.codec_context.options = options
                for frame in container.decode(stream):
                    rotation = int(round(frame.rotation or 0)) % 360
                    break
    except av.error.FFmpegError:
        pass  # the main pass reports what is wrong with the file
    return rotation if rotation in (0, 90, 180, 270) else 0


def _decoder_options(limits: Limits) -> dict[str, str]:
    """FFmpeg decoder options that refuse a frame far above `limits.max_pixels` before
    allocating it (with room for the decoders' padding: a 2160x3840 portrait video, exactly at
    the default limit, decodes to 2176 columns)."""
    return {"max_pixels": str(limits.max_pixels + _DECODER_PADDING * limits.max_side)}


def _header_rate(stream: av.VideoStream) -> float | None:
    """The frame rate the headers give: the average, else FFmpeg's guess; None if neither."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else None


def _header_frames(
    stream: av.VideoStream, duration_s: float | None, fps: float | None
) -> int | None:
    """The frame count the header declares, else duration x frame rate; None if unknown."""
    if stream.frames and stream.frames > 0:
        return stream.frames
    if duration_s and fps:
        return round(duration_s * fps)
    return None


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """The video stream's duration, else the container's (which may span audio too)."""
    duration_s = _video_duration(stream)
    if duration_s is None and container.duration:
        duration_s = container.duration / av.time_base
    return duration_s


def _video_duration(stream) -> float | None:
    """The video stream's own duration: from the stream, or Matroska's DURATION tag."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION", "")
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def decode_packet(packet: av.Packet, stats: DecodeStats) -> list[av.VideoFrame]:
    """The packet's frames that decode; the others are counted in `stats.failed`."""
    try:
        frames = cast(list[av.VideoFrame], packet.decode())
    except av.error.InvalidDataError:
        stats.failed += 1
        return []
    good = [frame for frame in frames if not getattr(frame, "is_corrupt", False)]
    stats.failed += len(frames) - len(good)
    return good


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation so the frame is as the phone showed it."""
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() or type(exc).__name__

"""Open, validate and decode an input video, frame by frame, upright.

`open_video` checks everything that can be checked before decoding (and raises a typed
`VideoInputError`); `VideoSource.frames()` then yields RGB frames with the phone's rotation
applied, skipping (and counting) frames that fail to decode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from shared.media_types import SNIFF_BYTES, sniff_container
from worker.pipeline.errors import (
    CorruptVideo,
    DimensionsOutOfRange,
    EmptyFile,
    NotAVideo,
    NoVideoStream,
    TruncatedVideo,
    UnsupportedCodec,
    VideoTooLong,
)

# FFmpeg demuxers that read still images; a photo is not a dance video.
_IMAGE_FORMATS = ("image2", "_pipe", "gif", "apng", "webp")
MIN_SIDE = 16
# A file that decodes to less than this share of the frames its header declares is truncated.
_TRUNCATED_BELOW = 0.9


@dataclass(frozen=True)
class Limits:
    max_duration_s: float = 600.0
    max_side: int = 4096
    max_pixels: int = 3840 * 2160


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


@dataclass
class DecodeStats:
    decoded: int = 0
    failed: int = 0
    last_time_s: float = 0.0


@dataclass
class AudioPacket:
    """An audio packet passed through to the output, untouched."""

    packet: av.Packet


def open_video(path: str | os.PathLike, limits: Limits = Limits(), *,
               threads: int = 1) -> VideoSource:
    """Open `path` and validate it, raising a `VideoInputError` subclass on bad input.

    `threads` is the decoder's thread count (frame threading when above one).
    """
    size = os.path.getsize(path)
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES * 4)
    try:
        container = av.open(os.fspath(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if sniff_container(head):
            raise CorruptVideo(f"the video container cannot be read ({_reason(exc)})") from exc
        raise NotAVideo("the file is not a video this service can read") from exc
    try:
        return VideoSource(container, limits, rotation=_first_frame_rotation(path),
                           threads=threads)
    except BaseException:
        container.close()
        raise


class VideoSource:
    """An opened, validated input. Use as a context manager; iterate `items()` once."""

    def __init__(self, container: av.container.InputContainer, limits: Limits, *,
                 rotation: int = 0, threads: int = 1):
        self.container = container
        self.rotation = rotation
        if any(container.format.name.endswith(f) or container.format.name == f.strip("_")
               for f in _IMAGE_FORMATS):
            raise NotAVideo(f"the file is a still image ({container.format.name}), not a video")
        if not container.streams.video:
            raise NoVideoStream("the file has no video stream")
        self.stream = container.streams.video[0]
        ctx = self.stream.codec_context
        if ctx is None or not ctx.name:
            raise UnsupportedCodec("the video codec is not supported")
        if threads > 1:
            self.stream.thread_type = "AUTO"
        self.stream.codec_context.thread_count = threads
        # Audio FFmpeg cannot decode is left out rather than failing the video.
        self.audio = next((a for a in container.streams.audio if a.codec_context is not None),
                          None)
        self.info = self._describe(limits)
        self.limits = limits

    def _describe(self, limits: Limits) -> VideoInfo:
        stream = self.stream
        width, height = stream.codec_context.width, stream.codec_context.height
        rotation = self.rotation
        if rotation in (90, 270):
            width, height = height, width
        if min(width, height) < MIN_SIDE or max(width, height) > limits.max_side or (
            width * height > limits.max_pixels
        ):
            raise DimensionsOutOfRange(
                f"{width}x{height} is outside the accepted range: sides {MIN_SIDE}.."
                f"{limits.max_side} px and at most {limits.max_pixels} pixels"
            )
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate and 0 < float(rate) <= 1000 else 30.0
        video_duration_s = _video_duration(stream)
        duration_s = video_duration_s
        if duration_s is None and self.container.duration:
            duration_s = self.container.duration / av.time_base
        # The container's duration spans audio too: trust it for truncation only without audio.
        self._expected_s = video_duration_s if video_duration_s or self.audio else duration_s
        if duration_s is not None and duration_s > limits.max_duration_s:
            raise VideoTooLong(
                f"the video lasts {duration_s:.1f} s; the limit is {limits.max_duration_s:g} s"
            )
        return VideoInfo(
            container=self.container.format.name,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=rotation,
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
        `TruncatedVideo`, `CorruptVideo` or `VideoTooLong` when the file turns out worse than
        its header said.
        """
        info, tb = self.info, self.info.time_base
        streams = [self.stream] + ([self.audio] if self.audio else [])
        max_frames = int(self.limits.max_duration_s * 240) + 1
        last_pts = None
        try:
            for packet in self.container.demux(streams):
                if packet.stream is self.audio:
                    if packet.size and packet.pts is not None:
                        yield AudioPacket(packet)
                    continue
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    stats.failed += 1
                    continue
                for frame in frames:
                    if getattr(frame, "is_corrupt", False):
                        stats.failed += 1
                        continue
                    pts = frame.pts
                    if pts is None:  # some AVI files: derive from the frame rate
                        pts = round(stats.decoded / info.fps / tb)
                    if last_pts is not None and pts <= last_pts:
                        pts = last_pts + 1
                    last_pts = pts
                    time_s = float(pts * tb)
                    stats.decoded += 1
                    stats.last_time_s = time_s
                    if stats.decoded > max_frames or time_s - self._start_s() > (
                        self.limits.max_duration_s
                    ):
                        raise VideoTooLong(
                            f"the video runs past the limit of {self.limits.max_duration_s:g} s"
                        )
                    rgb = frame.to_ndarray(format="rgb24")  # swscale's SIMD path
                    yield DecodedFrame(stats.decoded - 1, pts, time_s, _upright(rgb, info.rotation))
        except av.error.FFmpegError as exc:
            if stats.decoded == 0:
                raise CorruptVideo(f"no frame could be read ({_reason(exc)})") from exc
            raise TruncatedVideo(
                f"the file breaks off after frame {stats.decoded} ({_reason(exc)})"
            ) from exc
        self._check_complete(stats)

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


def _first_frame_rotation(path: str | os.PathLike) -> int:
    """The display rotation, which PyAV exposes on decoded frames: read off the first one.

    A separate short-lived container, so the main pass never has to seek back.
    """
    rotation = 0
    try:
        with av.open(os.fspath(path), metadata_errors="ignore") as container:
            if container.streams.video:
                for frame in container.decode(container.streams.video[0]):
                    rotation = int(round(frame.rotation or 0)) % 360
                    break
    except av.error.FFmpegError:
        pass  # the main pass reports what is wrong with the file
    return rotation if rotation in (0, 90, 180, 270) else 0


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


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation so the frame is as the phone showed it."""
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() or type(exc).__name__

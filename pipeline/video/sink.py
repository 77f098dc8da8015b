"""Write the annotated video: H.264 yuv420p in MP4 with +faststart, the input's audio kept.

Browsers play this combination everywhere. Timestamps are the input's, so frame count,
frame rate (also a variable one) and audio sync carry over.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import cast

import av
import cv2
import numpy as np

from pipeline.video.source import VideoInfo

log = logging.getLogger(__name__)

# Audio codecs that MP4 carries and browsers play: copied as they are; others become AAC.
_COPY_AUDIO = {"aac", "mp3"}
_BT601_MATRIX = 6  # AVCOL_SPC_SMPTE170M
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


class AudioOut:
    """The input's audio track in an output container: copied when browsers play it in MP4
    (AAC, MP3), else transcoded to AAC. A packet that cannot be written is dropped."""

    def __init__(self, container: av.container.OutputContainer, stream: av.AudioStream):
        self.container, self.stream = container, stream
        self.transcode = stream.codec_context.name not in _COPY_AUDIO
        self.dropped_packets = 0
        if self.transcode:
            ctx = stream.codec_context
            aac = cast(av.AudioStream, container.add_stream("aac", rate=ctx.sample_rate or 48000))
            aac.bit_rate = 160_000
            self.out = aac
        else:
            self.out = cast(av.AudioStream, container.add_stream_from_template(stream))

    def write(self, packet: av.Packet) -> None:
        try:
            if self.transcode:
                for frame in self.stream.codec_context.decode(packet):
                    frame.pts = None  # let the encoder count samples
                    self.container.mux(self.out.encode(frame))
            else:
                packet.stream = self.out
                self.container.mux(packet)
        except (av.error.FFmpegError, ValueError) as exc:
            self.dropped_packets += 1
            log.debug("dropped an audio packet: %s", exc)

    def flush(self) -> None:
        if self.transcode:
            self.container.mux(self.out.encode(None))


class VideoSink:
    """Encode RGB frames to `path`. Use as a context manager; `close()` finishes the file."""

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        audio_stream: av.audio.stream.AudioStream | None = None,
        *,
        preset: str = "ultrafast",
        crf: int = 26,
        threads: int = 1,
    ):
        # yuv420p needs even sides: an odd row or column is dropped.
        self.width, self.height = info.width - info.width % 2, info.height - info.height % 2
        self.container = av.open(
            os.fspath(path), "w", format="mp4", options={"movflags": "+faststart"}
        )
        rate = Fraction(info.fps).limit_denominator(1001)
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        self.time_base = info.time_base  # frames carry the input's timestamps
        self.video.time_base = info.time_base
        self.video.codec_context.time_base = info.time_base
        self.video.thread_count = threads
        self.video.options = {"preset": preset, "crf": str(crf), "profile": "high"}
        # Say what the pixels are, so players do not guess: OpenCV's RGB -> I420 is the
        # BT.601 matrix in limited range; primaries and transfer are the input's.
        ctx = self.video.codec_context
        ctx.colorspace, ctx.color_range = _BT601_MATRIX, _LIMITED_RANGE
        ctx.color_primaries, ctx.color_trc = info.color_primaries, info.color_trc
        self.audio = None if audio_stream is None else AudioOut(self.container, audio_stream)

    def write_frame(self, rgb: np.ndarray, pts: int) -> None:
        if rgb.shape[0] != self.height or rgb.shape[1] != self.width:
            rgb = rgb[: self.height, : self.width]
        # OpenCV's RGB -> I420 is an order of magnitude faster than letting swscale do it.
        yuv = np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = pts
        frame.time_base = self.time_base
        self.container.mux(self.video.encode(frame))

    def write_audio(self, packet: av.Packet) -> None:
        """Copy (or transcode to AAC) one input audio packet. A bad packet is dropped."""
        if self.audio is not None:
            self.audio.write(packet)

    def close(self) -> None:
        """Flush the encoders and finish the file (moov moved to the front)."""
        try:
            self.container.mux(self.video.encode(None))
            if self.audio is not None:
                self.audio.flush()
        finally:
            self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the caller reports the first error
            pass

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

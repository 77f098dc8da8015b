"""The inputs of comparison.mp4, read for it: each annotated video's pictures by time, in
one forward pass of its decoder, scaled to the output's height; the reference's sound,
re-encoded as AAC and placed by its own timestamps; and a helper thread that makes the
output's pictures a few frames ahead of the encoder (see `pipeline.compare.video`)."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

AUDIO_BIT_RATE = 128_000
AHEAD = 8  # output frames made ahead of the encoder
END = object()


def open_input(path: str | os.PathLike) -> av.container.InputContainer:
    """The container, with a video stream; FileNotFoundError or ValueError otherwise."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such video: {os.fspath(path)}")
    try:
        container = av.open(os.fspath(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise ValueError(f"{os.fspath(path)} is not a video PyAV can read ({exc})") from exc
    if not container.streams.video or container.streams.video[0].codec_context is None:
        container.close()
        raise ValueError(f"{os.fspath(path)} has no video stream")
    return container


class Frames:
    """One input's pictures by time, scaled to `height`, in one forward pass of its decoder."""

    def __init__(self, container: av.container.InputContainer, height: int):
        self.stream = container.streams.video[0]
        # One thread: the helper thread (decoding) and the encoder already keep two cores
        # busy, as `pipeline.runner.helper_threads` gives on two cores.
        self.stream.codec_context.thread_count = 1
        self.decoded = _decoded(container, self.stream)
        first = next(self.decoded, None)
        if first is None:
            raise ValueError(f"{container.name}: no video frame decodes")
        self.current, self.pending = first, next(self.decoded, None)
        frame = first[1]
        width = max(2, round(frame.width * height / frame.height / 2) * 2)
        self.size = (width, height - height % 2)
        self.picture: np.ndarray = np.empty(0, np.uint8)
        self.shown: av.VideoFrame | None = None

    def at(self, time_s: float) -> np.ndarray:
        """The picture nearest `time_s` (a tie: the later one); the same array while the
        same frame is shown, never written to once returned."""
        while self.pending is not None and time_s >= (self.current[0] + self.pending[0]) / 2:
            self.current, self.pending = self.pending, next(self.decoded, None)
        frame = self.current[1]
        if frame is not self.shown:
            self.picture, self.shown = _scaled(frame, self.size), frame
        return self.picture


def _decoded(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time in s, frame) in decode order; a packet that fails to decode is skipped."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.debug("skipped a video packet: %s", exc)
            continue
        for frame in frames:
            if frame.time is not None:
                yield frame.time, frame


def _scaled(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame in RGB at `size` (even sides). The usual yuv420p is scaled plane by plane,
    then converted by OpenCV: 0.4 ms a 720p frame, against 1.6 ms converting first and 6.8
    ms with swscale."""
    width, height = size
    method = cv2.INTER_AREA if frame.height > height else cv2.INTER_LINEAR
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        return cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=method)
    i420 = np.empty(width * height * 3 // 2, np.uint8)
    luma, chroma = width * height, width * height // 4
    i420[:luma] = cv2.resize(_plane(frame, 0), size, interpolation=method).reshape(-1)
    for i, start in ((1, luma), (2, luma + chroma)):
        half = cv2.resize(_plane(frame, i), (width // 2, height // 2), interpolation=method)
        i420[start : start + chroma] = half.reshape(-1)
    return cv2.cvtColor(i420.reshape(-1, width), cv2.COLOR_YUV2RGB_I420)


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Plane `index` of a yuv420p frame as a (rows, columns) view, without its padding."""
    plane = frame.planes[index]
    rows, columns = (
        (frame.height, frame.width) if index == 0 else (frame.height // 2, frame.width // 2)
    )
    return np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)[:rows, :columns]


class Sound:
    """The reference's audio from `start_s` (its container clock) as AAC from output time 0,
    placed by the audio frames' own times, `duration_s` long in the end."""

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.AudioStream,
        output: av.container.OutputContainer,
        start_s: float,
        duration_s: float,
    ):
        self.container, self.stream = container, stream
        self.rate = stream.codec_context.sample_rate or 48000
        self.layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        self.out = cast(av.AudioStream, output.add_stream("aac", rate=self.rate))
        self.out.layout = self.layout
        self.out.bit_rate = AUDIO_BIT_RATE
        self.output = output
        self.resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        self.start_s = start_s
        self.total = round(duration_s * self.rate)  # samples the track ends with
        self.written = 0
        self.frames = self._decoded()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        output: av.container.OutputContainer,
        start_s: float,
        duration_s: float,
    ) -> Sound | None:
        """None when the reference has no audio FFmpeg can decode."""
        container = av.open(os.fspath(path), metadata_errors="ignore")
        stream = next((s for s in container.streams.audio if s.codec_context is not None), None)
        if stream is None:
            container.close()
            return None
        return cls(container, stream, output, start_s, duration_s)

    def _decoded(self) -> Iterator[tuple[float | None, np.ndarray]]:
        """(time in s or None, (channels, n) float32 samples); broken packets skipped."""
        for packet in self.container.demux(self.stream):
            try:
                decoded = [(f.time, self.resampler.resample(f)) for f in packet.decode()]
            except (av.error.FFmpegError, ValueError) as exc:
                log.debug("skipped an audio packet: %s", exc)
                continue
            for time_s, converted in decoded:
                for frame in converted:
                    yield time_s, frame.to_ndarray()
                    time_s = None  # the rest of this frame follows on

    def write_until(self, time_s: float) -> None:
        """Encode the track up to output time `time_s` (or a little past)."""
        target = min(self.total, round(time_s * self.rate))
        while self.written < target:
            item = next(self.frames, None)
            if item is None:
                return
            self._place(*item)

    def _place(self, time_s: float | None, samples: np.ndarray) -> None:
        """Write `samples` where their time says: silence over a gap, an overlap dropped."""
        if time_s is not None:
            position = round((time_s - self.start_s) * self.rate)
            if position > self.written:
                self._silence(position - self.written)
            samples = samples[:, max(0, self.written - position) :]
        self._encode(samples[:, : self.total - self.written])

    def _silence(self, count: int) -> None:
        channels = 1 if self.layout == "mono" else 2
        while count > 0 and self.written < self.total:
            n = min(count, self.rate, self.total - self.written)
            self._encode(np.zeros((channels, n), np.float32))
            count -= n

    def _encode(self, samples: np.ndarray) -> None:
        if samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        # Counted from output time 0. Without pts the encoder's priming (1024 samples)
        # would not be marked for skipping, and the sound would play 23 ms late.
        frame.pts, frame.time_base = self.written, Fraction(1, self.rate)
        self.output.mux(self.out.encode(frame))
        self.written += samples.shape[1]

    def finish(self) -> None:
        """Whatever the track still lacks up to the video's end is silence."""
        self.write_until(self.total / self.rate)
        self._silence(self.total - self.written)
        self.output.mux(self.out.encode(None))

    def close(self) -> None:
        self.container.close()


class Ahead:
    """Iterate `items` in a helper thread, a few ahead of the consumer. PyAV and OpenCV
    release the GIL, so on two cores decoding, scaling and drawing run beside the encoder
    (measured, 60 s of two 720p30 inputs at height 360: 22 s on one thread, 10-13 s)."""

    def __init__(self, items: Iterator):
        self.queue: queue.Queue = queue.Queue(AHEAD)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(items,), name="compare-frames", daemon=True
        )
        self.thread.start()

    def _run(self, items: Iterator) -> None:
        try:
            for item in items:
                if self.stop.is_set():
                    return
                self._put(item)
        except BaseException as exc:  # handed to the consumer, which raises it
            self.error = exc
        self._put(END)

    def _put(self, item: object) -> None:
        """Queue `item`, unless the consumer gives up first."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator:
        while (item := self.queue.get()) is not END:
            yield item
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.stop.set()
        self.thread.join()

"""Short synthetic clips with a real person, for the README's first command and for tests.

scikit-image ships two photos of people (`astronaut`, `camera`) that BlazePose detects.
`make_clip` moves and scales one across a plain background, so the pose really changes
position from frame to frame, and encodes it with PyAV in any container/codec asked for;
`DUO` puts both side by side, each swaying in its own half of the frame.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from functools import cache
from typing import cast

import av
import cv2
import numpy as np

PEOPLE = ("astronaut", "camera")
DUO = "duo"  # both photos side by side: two dancers


def steady_encoding(codec: str) -> dict[str, object]:
    """Encoder options with which the same pictures always give the same bytes: one thread
    and, for x264 on a CPU with AVX-512, its routines up to AVX2 only. Its AVX-512 ones read
    memory they never wrote: the same 260 frames encoded eight times in one process gave
    seven different files (AMD EPYC, x264 core 165), so a test on footage made this way
    scored differently from run to run; up to AVX2, one file. The pictures are as good."""
    options: dict[str, object] = {"threads": "1"}
    if codec == "libx264" and {"avx512f", "avx2"} <= _cpu_flags():
        options["x264-params"] = "asm=AVX2"
    return options


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as info:
            line = next((line for line in info if line.startswith("flags")), "")
    except OSError:  # not Linux: x264 decides
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def person_image(name: str = "astronaut") -> np.ndarray:
    """An RGB photo of a person from scikit-image's bundled data."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[:, :, :3])


def render_frames(
    person: str | None,
    *,
    width: int,
    height: int,
    frames: int,
    background: tuple[int, int, int] = (70, 90, 110),
):
    """Yield RGB frames: the person photo drifting and breathing in scale, `DUO`'s two photos
    swaying side by side, or an empty scene."""
    if person == DUO:
        yield from _duo_frames(width=width, height=height, frames=frames, background=background)
        return
    photo = person_image(person) if person else None
    for i in range(frames):
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[:] = background
        # a little texture so the encoder has something real to do
        cv2.circle(
            canvas,
            (int(width * (0.1 + 0.8 * i / max(frames, 1))), height // 8),
            max(4, height // 30),
            (200, 200, 80),
            -1,
        )
        if photo is not None:
            phase = 2 * math.pi * i / max(frames, 1)
            side = int(min(width, height) * (0.8 + 0.12 * math.sin(phase)))
            tile = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
            x = int((width - side) * (0.5 + 0.35 * math.sin(phase)))
            y = max(0, (height - side) // 2)
            h, w = min(side, height - y), min(side, width - x)
            canvas[y : y + h, x : x + w] = tile[:h, :w]
        yield canvas


def _duo_frames(*, width: int, height: int, frames: int, background: tuple[int, int, int]):
    photos = [person_image(name) for name in PEOPLE]
    half = width // 2
    for i in range(frames):
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[:] = background
        for k, photo in enumerate(photos):
            side = int(min(height, half) * (0.88 + 0.04 * math.sin(i / 10 + k)))
            tile = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
            sway = (half - side) / 2 * math.sin(i / 15 + 2 * k)
            x = int(k * half + (half - side) / 2 + sway)
            y = (height - side) // 2
            canvas[y : y + side, x : x + side] = tile
        yield canvas


def make_clip(
    path: str | os.PathLike,
    *,
    person: str | None = "astronaut",
    width: int = 480,
    height: int = 360,
    frames: int = 30,
    fps: int = 15,
    codec: str = "libx264",
    container_format: str | None = None,
    audio: bool = False,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    frame_times: list[float] | None = None,
    beat_bpm: float | None = None,
    keyframe_every: int | None = None,
) -> str:
    """Encode a clip. `rotation` stores the frames turned and a display matrix that turns them
    back (as phones do); `frame_times` gives each frame's time for a variable frame rate;
    `audio` is a steady tone, or with `beat_bpm` a click on every beat from time 0;
    `keyframe_every` frames a keyframe (default: the encoder's)."""
    path = os.fspath(path)
    time_base = Fraction(1, 1000) if frame_times else Fraction(1, fps)
    with av.open(path, "w", format=container_format) as out:
        coded_w, coded_h = (height, width) if rotation in (90, 270) else (width, height)
        stream = cast(av.VideoStream, out.add_stream(codec, rate=fps))
        stream.width, stream.height, stream.pix_fmt = coded_w, coded_h, pix_fmt
        # the same clip each time: a test on it sees the same frames run after run
        stream.options = steady_encoding(codec)
        if keyframe_every:  # a keyframe every so many frames, as phones and cameras write
            stream.codec_context.gop_size = keyframe_every
        stream.time_base = stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        sound = cast(av.AudioStream, out.add_stream("aac", rate=44100)) if audio else None
        for i, rgb in enumerate(render_frames(person, width=width, height=height, frames=frames)):
            if rotation:  # store turned clockwise by `rotation`; the matrix turns it back
                rgb = np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90)))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round(frame_times[i] * 1000) if frame_times else i
            frame.time_base = time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            _write_tone(out, sound, seconds=frames / fps, beat_bpm=beat_bpm)
    return path


def _write_tone(
    out, stream, *, seconds: float, hz: float = 440.0, beat_bpm: float | None = None
) -> None:
    rate, chunk = stream.codec_context.sample_rate, 1024
    total = int(rate * seconds)
    for start in range(0, total, chunk):
        t = (np.arange(start, min(start + chunk, total)) / rate).astype(np.float32)
        if beat_bpm:  # a 1 kHz click of 30 ms decaying fast, on every beat
            since_beat = np.mod(t, np.float32(60.0 / beat_bpm))
            envelope = np.exp(-since_beat / 0.006) * (since_beat < 0.03)
            samples = (0.8 * envelope * np.sin(2 * math.pi * 1000 * t)).astype(np.float32)
        else:
            samples = (0.2 * np.sin(2 * math.pi * hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))

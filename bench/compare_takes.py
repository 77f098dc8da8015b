"""Real dance footage turned into takes whose timing is known, for the comparison's cases
(`bench/compare_cases.py`).

A *source* is one dancer cut out of a real clip of `../shared/data/dancers/` (a box of the
frame that holds that dancer all along) with the clip's own soundtrack. A *take* is a video
made from a source the way a teacher's or a student's recording differs from another:

- a window of the performance (starting earlier or later, ending elsewhere);
- the movement re-timed (`video_time`: the source time shown at each time of the take),
  while the soundtrack runs on unchanged (`audio_time`), or delayed against it;
- mirrored, zoomed, cropped or shifted, at another size or frame rate;
- people walking in front of the dancer (`occluders`: dark shapes crossing the picture), so
  that BlazePose misses the dancer in some frames, as on real recordings;
- without a soundtrack, or with another one.

Both functions of time are known, so the right alignment is known: the reference's time t
shows source time `ref.video_time(t)`; the take shows that moment at the time u where
`take.video_time(u)` equals it. Encoded with x264 at CRF 20 (compression noise), the same
bytes every time (`pipeline.video.samples.steady_encoding`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from pipeline.video.samples import steady_encoding

DANCERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dancers"
AUDIO_RATE = 44100
CRF = 20
OCCLUDER_RGB = (38, 34, 40)  # someone in dark clothes, right in front of the camera

Box = tuple[float, float, float, float]  # x0, y0, x1, y1, fractions of the frame


@dataclass(frozen=True)
class Source:
    """One dancer of a real clip: `box` of the frame, from `start_s` for `seconds`; with
    `follow`, the box's centre moves along (clip time, centre x) keyframes (a camera that
    pans with the dancer)."""

    clip: str  # file name in DANCERS
    box: Box
    start_s: float = 0.0
    seconds: float | None = None
    follow: tuple[tuple[float, float], ...] = ()

    def box_at(self, t: float) -> Box:
        if not self.follow:
            return self.box
        x0, y0, x1, y1 = self.box
        ts, xs = zip(*self.follow, strict=True)
        centre = float(np.interp(t, ts, xs))
        half = (x1 - x0) / 2
        centre = min(max(centre, half), 1.0 - half)
        return (centre - half, y0, centre + half, y1)


# The girl on the right of `pair_phone.mp4` (a short-video dance to a song with a clear beat,
# 15 s; the man beside her dances the same routine) and the woman in red at the front left of
# `line_dance_crowd.mp4` (a line dance in a crowd, handheld camera, 42 s, music under the
# noise of the crowd).
GIRL = Source("pair_phone.mp4", (0.5, 0.0, 1.0, 1.0), 0.0, 14.9)
MAN = Source("pair_phone.mp4", (0.0, 0.0, 0.5, 1.0), 0.0, 14.9)
RED = Source(
    "line_dance_crowd.mp4",
    (0.0, 0.0, 0.34, 1.0),
    0.0,
    42.0,
    follow=((0, 0.19), (4, 0.19), (6, 0.26), (10, 0.23), (14, 0.22), (18, 0.25), (20, 0.22),
            (22, 0.33), (30, 0.34), (34, 0.38), (40, 0.38), (42, 0.35)),
)  # fmt: skip


@dataclass(frozen=True)
class Decoded:
    times: np.ndarray  # (T,) seconds from the source's first frame
    frames: list[np.ndarray]  # RGB, the box only
    audio: np.ndarray | None  # mono float32 at AUDIO_RATE, from the first frame's time
    fps: float


@cache
def decode(source: Source) -> Decoded:
    """The source's frames (cut to its box) and soundtrack, on the first frame's clock."""
    path = DANCERS / source.clip
    if not path.exists():
        raise FileNotFoundError(f"{path}: the shared dance footage is not here")
    frames, times = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 30)
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            x0, y0, x1, y1 = source.box_at(
                float(frame.time) - (times[0] if times else float(frame.time))
            )
            x1 = x0 + (source.box[2] - source.box[0])  # the same width in every frame
            frames.append(
                np.ascontiguousarray(rgb[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)])
            )
            times.append(float(frame.time))
    first = times[0]
    times_arr = np.asarray(times) - first
    keep = times_arr >= source.start_s - 1e-6
    if source.seconds is not None:
        keep &= times_arr < source.start_s + source.seconds - 1e-6
    index = np.flatnonzero(keep)
    audio = _audio(path, first)
    if audio is not None:
        audio = audio[int(round(source.start_s * AUDIO_RATE)) :]
    return Decoded(times_arr[index] - source.start_s, [frames[i] for i in index], audio, fps)


def _audio(path: Path, video_start: float) -> np.ndarray | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        parts, start = [], None
        for frame in container.decode(container.streams.audio[0]):
            if start is None and frame.time is not None:
                start = float(frame.time)
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    samples = np.concatenate(parts).astype(np.float32)
    lead = int(round(((start or 0.0) - video_start) * AUDIO_RATE))  # audio starts later: pad
    return np.concatenate([np.zeros(max(lead, 0), np.float32), samples[max(-lead, 0) :]])


TimeMap = Callable[[np.ndarray], np.ndarray]


def shifted(offset: float) -> TimeMap:
    """Source time = take time + offset."""
    return lambda u: np.asarray(u, dtype=float) + offset


def piecewise(knots: Sequence[tuple[float, float]]) -> TimeMap:
    """Source time by linear interpolation of (take time, source time) knots, extended
    beyond the ends with the end slopes."""
    us, ts = (np.array(v, dtype=float) for v in zip(*knots, strict=True))

    def at(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        out = np.interp(u, us, ts)
        lo = (ts[1] - ts[0]) / (us[1] - us[0])
        hi = (ts[-1] - ts[-2]) / (us[-1] - us[-2])
        out = np.where(u < us[0], ts[0] + (u - us[0]) * lo, out)
        return np.where(u > us[-1], ts[-1] + (u - us[-1]) * hi, out)

    return at


@dataclass(frozen=True)
class Occluder:
    """From `start_s` for `seconds` (take time): a dark figure walking across the picture
    right in front of the camera ("walker": BlazePose goes on guessing a pose behind it), or
    the picture lost ("dropout": nothing to see, BlazePose finds no pose)."""

    start_s: float
    seconds: float = 1.0
    width: float = 0.7  # of the frame's width (a walker)
    kind: str = "walker"


@dataclass(frozen=True)
class Take:
    source: Source
    seconds: float
    video_time: TimeMap = field(default=shifted(0.0))  # source time shown at take time u
    audio_time: TimeMap | None = field(default=shifted(0.0))  # None: no soundtrack
    fps: float = 30.0
    mirror: bool = False
    view: Box = (0.0, 0.0, 1.0, 1.0)  # the part of the box filmed (zoom, crop, shift)
    scale: float = 1.0  # output size relative to the view (when `size` is not given)
    size: tuple[int, int] | None = None  # output width, height
    occluders: tuple[Occluder, ...] = ()
    audio_gain: float = 1.0
    audio_noise: float = 0.0  # white noise added, as a fraction of the music's RMS

    def times(self) -> np.ndarray:
        return np.arange(int(round(self.seconds * self.fps))) / self.fps


def render(take: Take, path: str | Path) -> Path:
    """Encode the take (H.264 CRF 20, AAC) and return its path."""
    decoded = decode(take.source)
    times = take.times()
    wanted = take.video_time(times)
    index = np.clip(
        np.searchsorted(decoded.times, wanted - 0.5 / decoded.fps), 0, len(decoded.times) - 1
    )
    h, w = decoded.frames[0].shape[:2]
    x0, y0, x1, y1 = take.view
    out_w, out_h = take.size or (
        int(round((x1 - x0) * w * take.scale)) // 2 * 2,
        int(round((y1 - y0) * h * take.scale)) // 2 * 2,
    )
    path = Path(path)
    with av.open(str(path), "w") as out:
        stream = cast(
            av.VideoStream,
            out.add_stream("libx264", rate=Fraction(take.fps).limit_denominator(1000)),
        )
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
        stream.options = {**steady_encoding("libx264"), "crf": str(CRF), "preset": "veryfast"}
        sound = None
        if take.audio_time is not None and decoded.audio is not None:
            sound = cast(av.AudioStream, out.add_stream("aac", rate=AUDIO_RATE))
            sound.layout = "mono"
        for k, (u, i) in enumerate(zip(times, index, strict=True)):
            valid = 0.0 <= wanted[k] <= decoded.times[-1] + 1.0 / decoded.fps
            rgb = decoded.frames[i] if valid else np.zeros_like(decoded.frames[0])
            rgb = rgb[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]
            rgb = cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA)
            if take.mirror:
                rgb = rgb[:, ::-1]
            rgb = _occlude(np.ascontiguousarray(rgb), u, take.occluders)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            assert decoded.audio is not None
            _write_audio(out, sound, _take_audio(take, decoded.audio))
    return path


def beside_later(
    path: str | Path,
    frames: list[np.ndarray],
    *,
    delay_frames: int,
    seconds: float,
    fps: int,
    audio: np.ndarray | None = None,
    scale: float = 1.0,
) -> Path:
    """A dancer beside herself `delay_frames` later, the group synchronisation's known case:
    at each frame k (from `delay_frames`, for `seconds`, pts k at `fps`) source frame k on the
    left and k - `delay_frames` on the right, H.264 CRF 20; `scale`: both sides resized by
    it; with `audio` (mono, AUDIO_RATE), that soundtrack in AAC from time 0."""
    height, width = frames[0].shape[:2]
    size = (int(round(width * scale)) // 2 * 2, int(round(height * scale)) // 2 * 2)
    with av.open(str(path), "w") as out:
        stream = cast(av.VideoStream, out.add_stream("libx264", rate=fps))
        stream.width, stream.height, stream.pix_fmt = 2 * size[0], size[1], "yuv420p"
        stream.options = {**steady_encoding("libx264"), "crf": str(CRF)}
        stream.time_base = Fraction(1, fps)
        sound = None
        if audio is not None:
            sound = cast(av.AudioStream, out.add_stream("aac", rate=AUDIO_RATE))
            sound.layout = "mono"
        last = delay_frames + int(round(seconds * fps))
        for k in range(delay_frames, last):
            pair = [frames[k], frames[k - delay_frames]]
            if scale != 1.0:
                pair = [cv2.resize(side, size, interpolation=cv2.INTER_CUBIC) for side in pair]
            rgb = np.ascontiguousarray(np.concatenate(pair, axis=1))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None and audio is not None:
            _write_audio(out, sound, audio[: int(last / fps * AUDIO_RATE)])
    return Path(path)


def _occlude(rgb: np.ndarray, u: float, occluders: tuple[Occluder, ...]) -> np.ndarray:
    h, w = rgb.shape[:2]
    for o in occluders:
        f = (u - o.start_s) / o.seconds
        if 0.0 <= f <= 1.0 and o.kind == "dropout":
            rgb[:] = OCCLUDER_RGB
        elif 0.0 <= f <= 1.0:
            half = o.width * w / 2
            centre = -half + f * (w + 2 * half)
            a, b = int(max(0, centre - half)), int(min(w, centre + half))
            if b > a:
                rgb[:, a:b] = OCCLUDER_RGB
    return rgb


def _take_audio(take: Take, audio: np.ndarray) -> np.ndarray:
    assert take.audio_time is not None
    n = int(round(take.seconds * AUDIO_RATE))
    source_t = take.audio_time(np.arange(n) / AUDIO_RATE)
    index = np.round(source_t * AUDIO_RATE).astype(np.int64)
    ok = (index >= 0) & (index < len(audio))
    samples = np.zeros(n, np.float32)
    samples[ok] = audio[index[ok]] * take.audio_gain
    if take.audio_noise > 0:
        rms = float(np.sqrt(np.mean(audio**2))) or 1e-3
        noise = np.random.default_rng(7).normal(0.0, take.audio_noise * rms, n)
        samples = samples + noise.astype(np.float32)
    return np.clip(samples, -1.0, 1.0)


def _write_audio(
    out: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray
) -> None:
    chunk = 1024
    for start in range(0, len(samples), chunk):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[None, start : start + chunk]), format="flt", layout="mono"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def true_attempt_time(reference: Take, attempt: Take, ref_times: np.ndarray) -> np.ndarray:
    """For each reference time, the attempt's time showing the same moment of the source
    (NaN where the attempt never shows it): the right alignment path."""
    source_t = reference.video_time(np.asarray(ref_times, dtype=float))
    fine = np.arange(0.0, attempt.seconds, 1.0 / 1000)
    shown = attempt.video_time(fine)
    if np.any(np.diff(shown) < 0):
        raise ValueError("the attempt's time map must not go backwards")
    out = np.interp(source_t, shown, fine, left=np.nan, right=np.nan)
    return out


def true_music_offset(reference: Take, attempt: Take, ref_times: np.ndarray) -> np.ndarray:
    """For each reference time, the attempt time at which the same moment of the song plays
    (both takes' soundtracks from the same source), NaN outside."""
    assert reference.audio_time is not None and attempt.audio_time is not None
    song_t = reference.audio_time(np.asarray(ref_times, dtype=float))
    fine = np.arange(0.0, attempt.seconds, 1.0 / 1000)
    return np.interp(song_t, attempt.audio_time(fine), fine, left=np.nan, right=np.nan)


def seconds_label(value: float) -> str:
    return f"{value:+.1f} s" if math.isfinite(value) else "-"

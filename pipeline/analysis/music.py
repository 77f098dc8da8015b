"""The soundtrack: decode it (PyAV), track its beats (librosa), compare movement accents to them.

librosa is imported inside the functions: it imports numba, which is slow to load. Beat times
are reported on the container's clock (the first decoded audio frame's time is added), the
same clock as the video frames' `time_s`.
"""

from __future__ import annotations

import math
import os
from typing import Any

import av
import numpy as np

HOP = 256  # onset envelope hop: 11.6 ms at 22.05 kHz (512 quantises beats enough to bend tempo)
SNAP_FRAMES = 2  # a tracked beat moves to the onset envelope's peak within +-2 frames
# the onset envelope (spectral flux between frames i-1 and i, put at i) peaks about one hop
# after the attack (measured 12-14 ms at hop 256 on clicks and noise bursts): beats are moved back
LATENCY_FRAMES = 1.0
EDGE_STRENGTH = 0.1
SILENCE_PEAK = 1e-3  # -60 dBFS: a track whose peak stays below is silent
MIN_BEATS = 4  # fewer tracked beats: "no beat found"
_DECODE_ERRORS = (av.FFmpegError, ValueError, EOFError, OSError)


def decode_audio(
    path: str | os.PathLike, sr: int, max_seconds: float | None
) -> tuple[np.ndarray | None, float, str]:
    """(mono float32 samples or None, start time s, status): status "ok", "no_audio" or
    "undecodable". A missing file raises FileNotFoundError; decoding errors are swallowed
    (damaged packets are skipped and their time filled with silence, so beats keep their time;
    a demuxing error ends the stream)."""
    try:
        container = av.open(os.fspath(path))
    except FileNotFoundError:
        raise
    except _DECODE_ERRORS:
        return None, 0.0, "undecodable"
    parts: list[np.ndarray] = []
    start: float | None = None
    limit = math.inf if max_seconds is None else max(0.0, max_seconds) * sr
    with container:
        if not container.streams.audio:
            return None, 0.0, "no_audio"
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        total = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except _DECODE_ERRORS:
                    continue  # a damaged packet: skip it, its time is padded with silence
                for frame in frames:
                    if frame.time is not None:
                        start = float(frame.time) if start is None else start
                        gap = int(round((float(frame.time) - start) * sr)) - total
                        if gap > sr // 100:
                            parts.append(np.zeros(gap, dtype=np.float32))
                            total += gap
                    for out in resampler.resample(frame):
                        parts.append(out.to_ndarray().reshape(-1))
                        total += parts[-1].size
                if total >= limit:
                    break
        except _DECODE_ERRORS:
            pass
        try:
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except _DECODE_ERRORS:
            pass
    samples = np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)
    if math.isfinite(limit):
        samples = samples[: int(limit)]
    if samples.size == 0:
        return None, 0.0, "undecodable"
    return samples, start or 0.0, "ok"


def load_audio(
    path: str | os.PathLike, *, sr: int = 22050, max_seconds: float | None = None
) -> tuple[np.ndarray, int] | None:
    """The first audio stream as mono float32 at `sr` (at most `max_seconds`), or None when
    there is no audio stream or nothing could be decoded; a broken stream gives what decoded."""
    samples, _, _ = decode_audio(path, sr, max_seconds)
    return None if samples is None else (samples, sr)


def _periodicity(envelope: np.ndarray, lag: float) -> float:
    """Normalised autocorrelation (0..1) of the lightly smoothed envelope near `lag` frames."""
    from scipy.ndimage import gaussian_filter1d

    x = gaussian_filter1d(envelope.astype(np.float64), 1.5)
    x = x - x.mean()
    var = float(np.dot(x, x)) / max(x.size, 1)
    best = 0.0
    for k in range(max(1, int(lag) - 1), int(lag) + 3):
        if var <= 0 or k >= x.size - 1:
            break
        best = max(best, float(np.dot(x[:-k], x[k:])) / (x.size - k) / var)
    return float(np.clip(best, 0.0, 1.0))


def _snap(envelope: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Each beat frame moved to the envelope's highest point within +-SNAP_FRAMES, to a
    fraction of a frame (parabola), minus the envelope's latency (frames, sorted, unique).
    Leading/trailing beats with next to no onset (< EDGE_STRENGTH x the median) are dropped."""
    frames = frames[(frames >= 0) & (frames < envelope.size)]
    if frames.size == 0:
        return np.empty(0)
    windows = [(max(int(f) - SNAP_FRAMES, 0), int(f) + SNAP_FRAMES + 1) for f in frames]
    peaks = np.array([lo + int(np.argmax(envelope[lo:hi])) for lo, hi in windows])
    strength = envelope[peaks]
    strong = np.flatnonzero(strength >= EDGE_STRENGTH * np.median(strength))
    out = []
    for i in peaks[strong[0] : strong[-1] + 1]:
        offset = 0.0
        if 0 < i < envelope.size - 1:
            a, b, c = (float(v) for v in envelope[i - 1 : i + 2])
            if a - 2 * b + c < 0:
                offset = float(np.clip(0.5 * (a - c) / (a - 2 * b + c), -0.5, 0.5))
        out.append(max(0.0, i + offset - LATENCY_FRAMES))
    return np.unique(np.asarray(out, dtype=np.float64))


def _period(beats: np.ndarray) -> float:
    """Beat period (s): least-squares slope of beat time vs beat number (numbers counted in
    median intervals, so a skipped beat does not bend it), refitted without beats off by more
    than 10 % of a period."""
    median = float(np.median(np.diff(beats)))
    number = np.round((beats - beats[0]) / median)
    keep = np.ones(beats.size, dtype=bool)
    period = median
    for _ in range(2):
        if np.ptp(number[keep]) <= 0:
            break
        period, intercept = (float(v) for v in np.polyfit(number[keep], beats[keep], 1))
        keep = np.abs(beats - (intercept + period * number)) <= 0.1 * period
        if keep.sum() < 2:
            break
    return period


def track_beats(samples: np.ndarray, sr: int) -> dict:
    """{"tempo_bpm", "beat_times", "confidence"} by librosa's dynamic-programming tracker on the
    onset strength (hop 256). librosa's tempo is quantised by its tempogram lags, so each beat
    is snapped to its onset peak (sub-frame) and the tempo refined from the beats (`_period`).
    Octave: librosa's tempo prior (centred on 120 BPM) picks it. Confidence: the onset
    envelope's autocorrelation at that period. Times in s from the first sample."""
    import librosa

    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    empty: dict[str, Any] = {"tempo_bpm": None, "beat_times": [], "confidence": 0.0}
    if y.size < 2048 or not np.isfinite(y).all():
        return empty
    envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    _, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=HOP)
    beats = _snap(envelope, np.asarray(frames, dtype=np.int64)) * HOP / sr
    if beats.size < 2:
        return {**empty, "beat_times": beats.tolist()}
    period = _period(beats)
    if not period > 0:
        return {**empty, "beat_times": beats.tolist()}
    return {
        "tempo_bpm": 60.0 / period,
        "beat_times": beats.tolist(),
        "confidence": _periodicity(envelope, period * sr / HOP),
    }


def beat_alignment(
    accent_times: np.ndarray, beat_times: np.ndarray, *, tolerance_s: float = 0.1
) -> dict:
    """Signed offset of each accent to its nearest beat (negative = early, positive = late),
    over the accents within half a beat interval of a beat (those before the first / after the
    last beat by more are left out; "accents" counts the ones used). on_beat_score = share with
    |offset| <= tolerance; mean and standard deviation of the offsets in ms. None values when
    there are no accents, fewer than two beats, or no accent near a beat."""
    accents = np.sort(np.asarray(accent_times, dtype=np.float64).reshape(-1))
    beats = np.unique(np.asarray(beat_times, dtype=np.float64).reshape(-1))
    accents, beats = accents[np.isfinite(accents)], beats[np.isfinite(beats)]
    result: dict[str, Any] = {
        "on_beat_score": None,
        "mean_offset_ms": None,
        "offset_spread_ms": None,
        "accents": 0,
        "tolerance_ms": round(tolerance_s * 1000.0, 1),
    }
    if accents.size == 0 or beats.size < 2:
        return result
    right = np.clip(np.searchsorted(beats, accents), 1, beats.size - 1)
    left = right - 1
    nearest = np.where(accents - beats[left] <= beats[right] - accents, left, right)
    offsets = accents - beats[nearest]
    # the interval on the accent's side of its beat (the one inside the beat span at the edges)
    side = np.where(offsets >= 0, nearest, nearest - 1)
    side = np.clip(side, 0, beats.size - 2)
    interval = beats[side + 1] - beats[side]
    offsets = offsets[np.abs(offsets) <= interval / 2]
    if offsets.size == 0:
        return result
    result.update(
        on_beat_score=round(float(np.mean(np.abs(offsets) <= tolerance_s + 1e-9)), 3),
        mean_offset_ms=round(float(offsets.mean()) * 1000.0, 1),
        offset_spread_ms=round(float(offsets.std()) * 1000.0, 1),
        accents=int(offsets.size),
    )
    return result


def soundtrack_beats(path: str | os.PathLike, *, max_seconds: float | None = None) -> dict:
    """The soundtrack's beats, read once for every dancer of a video: {"available": True,
    "tempo_bpm", "beat_confidence", "beat_times"} (times on the container's clock), or
    {"available": False, "reason"}."""
    samples, start, status = decode_audio(path, 22050, max_seconds)
    if status == "no_audio":
        return {"available": False, "reason": "the video has no audio track"}
    if samples is None:
        return {"available": False, "reason": "the audio track could not be decoded"}
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        return {"available": False, "reason": "the audio track is silent"}
    beats = track_beats(samples, 22050)
    if beats["tempo_bpm"] is None or len(beats["beat_times"]) < MIN_BEATS:
        return {"available": False, "reason": "no beat found in the audio"}
    return {
        "available": True,
        "tempo_bpm": float(beats["tempo_bpm"]),
        "beat_confidence": float(beats["confidence"]),
        "beat_times": [float(t) + start for t in beats["beat_times"]],
    }


def music_section(beats: dict, accent_times: np.ndarray, *, tolerance_s: float = 0.1) -> dict:
    """The `music` section of analysis.json for one dancer's accents (times rounded to ms)."""
    if not beats.get("available"):
        return dict(beats)
    beat_times = np.asarray(beats["beat_times"], dtype=np.float64)
    accents = np.asarray(accent_times, dtype=np.float64).reshape(-1)
    return {
        "available": True,
        "tempo_bpm": round(beats["tempo_bpm"], 2),
        "beat_confidence": round(beats["beat_confidence"], 3),
        "beat_times": [round(float(t), 3) for t in beat_times],
        "accent_times": [round(float(t), 3) for t in accents],
        **beat_alignment(accents, beat_times, tolerance_s=tolerance_s),
    }


def music_analysis(
    path: str | os.PathLike,
    accent_times: np.ndarray,
    *,
    tolerance_s: float = 0.1,
    max_seconds: float | None = None,
) -> dict:
    """The `music` section of analysis.json (times rounded to ms)."""
    beats = soundtrack_beats(path, max_seconds=max_seconds)
    return music_section(beats, accent_times, tolerance_s=tolerance_s)


def warm_up() -> None:
    """Track the beats of two seconds of synthetic clicks once, so numba compiles librosa's
    functions at worker start instead of in the first job."""
    sr = 22050
    n = 2 * sr
    clicks = np.zeros(n, dtype=np.float32)
    burst = np.exp(-np.arange(200) / 40.0).astype(np.float32)
    for start in range(0, n - 200, sr // 2):
        clicks[start : start + 200] = burst
    track_beats(clicks, sr)

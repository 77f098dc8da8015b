"""The music under both performances: where the reference's song plays in the attempt.

When both videos carry the same song, the soundtracks give the clock that the dancer's
timing is measured against: a moment of the reference's music (its time t) plays at
`music_time(t)` in the attempt. The song may start earlier or later in the attempt (other
cut, a lead-in) and run a little faster or slower (another recording, a speaker filmed by a
phone), so the mapping is found in two steps, on librosa's onset strength (11.6 ms hops):

1. **Anchor.** The reference is cut into windows of `WINDOW_S` every `WINDOW_HOP_S` (half
   the shorter soundtrack and a quarter, for clips under 20 s); each
   window's onset envelope (made zero mean and unit variance over a sliding second) is
   cross-correlated with the whole attempt's (FFT). The window that matches best, if its
   correlation reaches `MIN_CORRELATION`, anchors the mapping; otherwise the soundtracks are
   taken as unrelated (another song, speech, noise) and timing falls back to movement. When
   other windows match nearly as well at other offsets (`ANCHOR_TIE`: a chorus played twice,
   a looped beat), the one nearest to where the dance itself was found is taken.
2. **Drift.** From the anchor outwards, each next window is correlated again within
   `MAX_DRIFT` (5 %) of the hop of its neighbour's offset (so a drift is followed however
   far it goes, and a repeated bar elsewhere in the song is not taken for it); windows that
   reach `MIN_CORRELATION` give the local offset, refined to a fraction of a hop, a running
   median of three removes strays, and the mapping is their piecewise-linear interpolation
   (constant beyond the first and last window).

Times are on each video's container clock, as the frames' (`pipeline.analysis.music` reads
the audio with the time of its first sample).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from pipeline.analysis import music

SR = 22050
HOP = 256  # 11.6 ms
MIN_SOUND_S = 2.0  # less sound in common than this: nothing to align
ANCHOR_TIE = 0.9  # anchors matching this nearly as well as the best are told apart by the dance
CHUNK_S = 30.0
MIN_CORRELATION = 0.2
WINDOW_S = 10.0
WINDOW_HOP_S = 5.0
MAX_DRIFT = 0.05  # the songs' speeds may differ by 5 % (a slowed-down practice track)
SILENCE_PEAK = music.SILENCE_PEAK


@dataclass(frozen=True)
class Soundtrack:
    """A video's audio as mono samples at `SR` (None when there is none), the container time
    of the first sample, why it is unusable if it is, and beats already tracked (from the
    job's analysis.json), if any."""

    samples: np.ndarray | None
    start_s: float
    problem: str | None  # "no soundtrack", "an undecodable soundtrack", "a silent soundtrack"
    beat_times: np.ndarray | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None and self.samples is not None


NO_SOUNDTRACK = Soundtrack(None, 0.0, "no soundtrack")


def load_soundtrack(
    path: str | os.PathLike | None, *, beat_times: list[float] | None = None
) -> Soundtrack:
    """The soundtrack of a video file (`NO_SOUNDTRACK` for None)."""
    if path is None:
        return NO_SOUNDTRACK
    samples, start, status = music.decode_audio(path, SR, None)
    beats = None if beat_times is None else np.asarray(beat_times, dtype=float)
    if status == "no_audio":
        return Soundtrack(None, 0.0, "no soundtrack", beats)
    if samples is None:
        return Soundtrack(None, 0.0, "an undecodable soundtrack", beats)
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        return Soundtrack(None, start, "a silent soundtrack", beats)
    return Soundtrack(samples, start, None, beats)


@dataclass(frozen=True)
class MusicMap:
    """Reference music time -> attempt music time: t + offset(t), offset interpolated
    between `knots` (reference time, offset)."""

    knots_t: np.ndarray
    knots_offset: np.ndarray
    correlation: float

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        return t + np.interp(t, self.knots_t, self.knots_offset)

    @property
    def offset_s(self) -> float:
        return float(self.knots_offset[0])

    @property
    def drift_s(self) -> float:
        return float(self.knots_offset[-1] - self.knots_offset[0])


def onset_envelope(samples: np.ndarray) -> np.ndarray:
    """librosa's onset strength at `HOP`, made zero mean and unit variance over each second
    (so loud and quiet passages, and two differently mixed recordings, weigh alike).
    Computed `CHUNK_S` at a time (with a margin either side), so a 10-minute soundtrack's
    spectrogram is never held whole."""
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    frames = 1 + len(y) // HOP
    chunk = int(CHUNK_S * SR) // HOP * HOP
    margin = 8 * HOP  # more than the STFT's half window and the onset's lag
    parts = []
    for first in range(0, len(y), chunk):
        lo, hi = max(0, first - margin), min(len(y), first + chunk + margin)
        env = librosa.onset.onset_strength(y=y[lo:hi], sr=SR, hop_length=HOP)
        skip = (first - lo) // HOP
        parts.append(env[skip : skip + chunk // HOP])
    env = np.log1p(np.concatenate(parts)[:frames].astype(np.float64))
    size = max(3, int(SR / HOP))
    mean = uniform_filter1d(env, size, mode="nearest")
    spread = np.sqrt(np.maximum(uniform_filter1d((env - mean) ** 2, size, mode="nearest"), 1e-12))
    return (env - mean) / np.maximum(spread, 1e-3)


def _lags(window: np.ndarray, spectrum: np.ndarray, size: int, m: int) -> np.ndarray:
    """Correlation (per frame of the window) of `window` with y at every position where it
    lies wholly inside y; `spectrum` is y's rfft at `size`."""
    n = len(window)
    full = np.fft.irfft(spectrum * np.conj(np.fft.rfft(window, size)), size)
    return full[: m - n + 1] / n


def _peaks(values: np.ndarray, count: int = 8) -> np.ndarray:
    """The indices of the `count` highest local maxima of `values`."""
    if len(values) < 3:
        return np.array([int(np.argmax(values))])
    inner = np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])) + 1
    candidates = np.concatenate([[0, len(values) - 1], inner])
    return candidates[np.argsort(values[candidates])[::-1][:count]]


def _refine(values: np.ndarray, k: int) -> float:
    """The parabola's peak around index k, as a fractional index."""
    if 0 < k < len(values) - 1 and np.all(np.isfinite(values[k - 1 : k + 2])):
        a, b, c = values[k - 1], values[k], values[k + 1]
        if a - 2 * b + c < 0:
            return k + float(np.clip(0.5 * (a - c) / (a - 2 * b + c), -0.5, 0.5))
    return float(k)


def _local_offset(
    x: np.ndarray, y: np.ndarray, start: int, length: int, lag: float, search: int
) -> tuple[float | None, float]:
    """(lag in frames, correlation) of x[start:start+length] within y near `lag`, over the
    part that overlaps y (at least half the window)."""
    lo = int(np.floor(lag)) - search
    values = np.full(2 * search + 2, -np.inf)
    for k in range(len(values)):
        a = max(start, -(lo + k))  # x[a:b] against y[a + lag: b + lag]
        b = min(start + length, len(y) - (lo + k))
        if b - a >= length // 2:
            values[k] = float(np.dot(x[a:b], y[a + lo + k : b + lo + k])) / (b - a)
    best_k = int(np.argmax(values))
    if not np.isfinite(values[best_k]):
        return None, -np.inf
    return lo + _refine(values, best_k), float(values[best_k])


def align_music(
    reference: Soundtrack, attempt: Soundtrack, *, near_s: float | None = None
) -> MusicMap | None:
    """The mapping, or None when the soundtracks do not match (see the module docstring).
    `near_s`: where the dance says the attempt's music should be (attempt time minus
    reference time): among anchors that match nearly as well (a chorus played twice, a loop),
    the one nearest to it."""
    if not (reference.usable and attempt.usable):
        return None
    assert reference.samples is not None and attempt.samples is not None
    x, y = onset_envelope(reference.samples), onset_envelope(attempt.samples)
    frames_per_s = SR / HOP
    # windows of WINDOW_S, or of half the shorter soundtrack (a short clip, cut elsewhere)
    window = int(min(WINDOW_S * frames_per_s, min(len(x), len(y)) / 2))
    if window < MIN_SOUND_S * frames_per_s:
        return None
    hop = max(1, min(int(WINDOW_HOP_S * frames_per_s), window // 2))
    starts = list(range(0, len(x) - window + 1, hop))
    size = 1 << int(np.ceil(np.log2(len(y) + window)))
    spectrum = np.fft.rfft(y, size)
    shift = attempt.start_s - reference.start_s
    # candidate anchors: each window's peaks in the attempt (a beat, a bar or a chorus may
    # match again elsewhere), told apart by how well they match, then by where the dance is
    found = []
    for k, s in enumerate(starts):
        values = _lags(x[s : s + window], spectrum, size, len(y))
        for peak in _peaks(values):
            found.append((float(values[peak]), k, _refine(values, peak) - s))
    top = max((value for value, _, _ in found), default=-np.inf)
    if top < MIN_CORRELATION:
        return None
    close = [f for f in found if f[0] >= ANCHOR_TIE * top]
    if near_s is None:
        _, anchor, lag = max(close)
    else:
        _, anchor, lag = min(
            close, key=lambda f: (abs(f[2] / frames_per_s + shift - near_s), -f[0])
        )
    top = next(value for value, k, peak in close if k == anchor and peak == lag)
    search = 2 + int(MAX_DRIFT * hop)  # frames a neighbouring window's offset may differ by
    knots: dict[int, tuple[float, float]] = {anchor: (lag, top)}
    for order in (range(anchor + 1, len(starts)), range(anchor - 1, -1, -1)):
        lag = knots[anchor][0]
        for k in order:  # outwards from the anchor, following the drift
            local, value = _local_offset(x, y, starts[k], window, lag, search)
            if local is not None and value >= MIN_CORRELATION:
                knots[k] = (local, value)
                lag = local
    keys = sorted(knots)
    lags = np.array([knots[k][0] for k in keys])
    if len(lags) >= 3:
        lags = median_filter(lags, size=3, mode="nearest")
    centres = np.array([starts[k] + window / 2 for k in keys]) / frames_per_s
    return MusicMap(
        knots_t=centres + reference.start_s,
        knots_offset=lags / frames_per_s + shift,
        correlation=float(np.median([knots[k][1] for k in keys])),
    )


def reference_beats(reference: Soundtrack) -> np.ndarray | None:
    """The reference's beat times (container clock): those of its analysis if given, else
    tracked now; None without music or a beat."""
    if reference.beat_times is not None and len(reference.beat_times) >= music.MIN_BEATS:
        return np.asarray(reference.beat_times, dtype=float)
    if not reference.usable:
        return None
    assert reference.samples is not None
    beats = music.track_beats(reference.samples, SR)
    if beats["tempo_bpm"] is None or len(beats["beat_times"]) < music.MIN_BEATS:
        return None
    return np.asarray(beats["beat_times"], dtype=float) + reference.start_s

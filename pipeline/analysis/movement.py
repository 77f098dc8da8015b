"""Movement energy of a dancer from BlazePose landmarks: per frame, per second, accents, tempo.

Pure numpy/scipy. `landmarks` is (T, 33, 4) = x, y (normalised to the frame), z, visibility;
a frame without a pose is a row of NaN. `times` (T,) are frame times in seconds (VFR allowed).
Energy is in body heights per second (the body height being 3x the shoulder-mid to hip-mid
distance, as in `metrics.py`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

_SHOULDERS = (11, 12)
_HIPS = (23, 24)
MIN_VISIBLE_POINTS = 4
# accents: peaks at least ACCENT_MIN_DISTANCE_S apart (240 accents/min at most), whose prominence
# is at least ACCENT_PROMINENCE x the series' spread (95th - 5th percentile) and at least
# ACCENT_MIN_PROMINENCE body heights/s (so pose jitter of a still dancer is no accent).
ACCENT_MIN_DISTANCE_S = 0.25
ACCENT_PROMINENCE = 0.3
ACCENT_MIN_PROMINENCE = 0.05
SMOOTHING_SIGMA_S = 0.025  # light Gaussian smoothing before peak picking
# tempo: periods searched in this dance range, on a uniform GRID_HZ resampling of the energy
TEMPO_MIN_BPM = 40.0
TEMPO_MAX_BPM = 220.0
GRID_HZ = 100.0
# octave rule: the shortest period whose autocorrelation peak is >= OCTAVE_RATIO x the highest one
OCTAVE_RATIO = 0.8
MIN_TEMPO_CONFIDENCE = 0.25  # below: no periodicity, bpm None (20 s of noise reach ~0.1)
MIN_PERIODS = 3  # the series must span this many of the longest period searched (4.5 s)


def movement_energy(
    landmarks: np.ndarray,
    times: np.ndarray,
    width: int,
    height: int,
    *,
    visibility_threshold: float = 0.5,
) -> np.ndarray:
    """(T,) mean pixel speed of the landmarks visible in this and the previous frame, divided by
    the body height (mean of both frames') -> body heights per second. NaN where unknown (first
    frame, no pose in either frame, fewer than 4 shared visible points, dt <= 0, no body size)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    n = lm.shape[0]
    energy = np.full(n, np.nan)
    if n < 2:
        return energy
    xy = lm[:, :, :2] * np.array([width, height], dtype=np.float64)
    vis = lm[:, :, 3]
    visible = np.isfinite(xy).all(axis=2) & np.isfinite(vis) & (vis >= visibility_threshold)
    torso = xy[:, list(_SHOULDERS)].mean(axis=1) - xy[:, list(_HIPS)].mean(axis=1)
    body = 3.0 * np.hypot(torso[:, 0], torso[:, 1])  # NaN without a pose
    both = visible[1:] & visible[:-1]
    step = np.where(both, np.linalg.norm(xy[1:] - xy[:-1], axis=2), 0.0)
    count = both.sum(axis=1)
    dt = np.diff(t)
    size = 0.5 * (body[1:] + body[:-1])
    ok = (count >= MIN_VISIBLE_POINTS) & (dt > 0) & np.isfinite(size) & (size > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = step.sum(axis=1) / np.maximum(count, 1) / size / dt
    energy[1:] = np.where(ok, speed, np.nan)
    return energy


def energy_per_second(energy: np.ndarray, times: np.ndarray) -> list[dict]:
    """[{"t": 0, "energy": mean of the known values with t <= time < t+1 (4 decimals) or None},
    {"t": 1, ...}, ...] for every second from 0 to the last frame's second."""
    e = np.asarray(energy, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0 or not np.isfinite(t).any():
        return []
    last = int(math.floor(max(float(np.nanmax(t)), 0.0)))
    second = np.floor(t)
    out: list[dict] = []
    for s in range(last + 1):
        values = e[(second == s) & np.isfinite(e)]
        out.append({"t": s, "energy": round(float(values.mean()), 4) if values.size else None})
    return out


def _uniform(energy: np.ndarray, times: np.ndarray, hz: float) -> tuple[np.ndarray, np.ndarray]:
    """The known energy values linearly interpolated (gaps filled) on a uniform grid at `hz`
    over the span of the known values; empty arrays when fewer than 3 are known. energy[i] is
    the speed between frames i-1 and i, so it is placed at their midpoint (else half a frame
    late)."""
    e = np.asarray(energy, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64).copy()
    t[1:] = 0.5 * (t[1:] + t[:-1])
    known = np.isfinite(e) & np.isfinite(t)
    if known.sum() < 3:
        return np.empty(0), np.empty(0)
    tk, ek = t[known], e[known]
    order = np.argsort(tk, kind="stable")
    tk, ek = tk[order], ek[order]
    grid = np.arange(tk[0], tk[-1] + 0.5 / hz, 1.0 / hz)
    return grid, np.interp(grid, tk, ek)


def _frame_rate(times: np.ndarray) -> float:
    """The median frame rate, clipped to 10..120 Hz (30 when unknown)."""
    dt = np.diff(np.asarray(times, dtype=np.float64))
    dt = dt[np.isfinite(dt) & (dt > 0)]
    return float(np.clip(1.0 / np.median(dt), 10.0, 120.0)) if dt.size else 30.0


def _parabolic(y: np.ndarray, i: int) -> float:
    """Sub-sample offset (-0.5..0.5) of the vertex of the parabola through y[i-1], y[i], y[i+1]."""
    if i <= 0 or i >= len(y) - 1:
        return 0.0
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0


def movement_accents(energy: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Times (s) of the clear peaks of the energy: gap-filled on a uniform grid at the median
    frame rate, smoothed (Gaussian, sigma 25 ms), peaks by `find_peaks` with distance 0.25 s and
    prominence >= max(0.3 x (p95 - p5), 0.05 body heights/s); sub-frame by parabolic fit."""
    hz = _frame_rate(times)
    grid, e = _uniform(energy, times, hz)
    if e.size < 3:
        return np.empty(0)
    smooth = gaussian_filter1d(e, SMOOTHING_SIGMA_S * hz, mode="nearest")
    spread = float(np.percentile(smooth, 95) - np.percentile(smooth, 5))
    prominence = max(ACCENT_PROMINENCE * spread, ACCENT_MIN_PROMINENCE)
    distance = max(1, int(round(ACCENT_MIN_DISTANCE_S * hz)))
    peaks, _ = find_peaks(smooth, prominence=prominence, distance=distance)
    return np.array([grid[p] + _parabolic(smooth, int(p)) / hz for p in peaks], dtype=np.float64)


def movement_tempo(energy: np.ndarray, times: np.ndarray) -> dict:
    """{"bpm", "period_s", "confidence"}: the dominant period of the energy in 40..220 BPM.

    Autocorrelation (mean removed, unbiased, normalised by the variance: 1 at lag 0) of the
    energy gap-filled on a 100 Hz grid. Octave: a dancer hitting every beat gives one energy
    peak per beat, so the autocorrelation also peaks at 2, 3... beats; we report the shortest
    period whose peak is >= 0.8 x the highest one, i.e. the rate of energy peaks (for a smooth
    back-and-forth swing, speed peaks twice per swing: twice the swing rate). Confidence is the
    autocorrelation at that period (0..1). bpm/period None when the series is shorter than 4.5 s
    (3 x the longest period) or the chosen peak is below 0.25.
    """
    none = {"bpm": None, "period_s": None, "confidence": 0.0}
    _, e = _uniform(energy, times, GRID_HZ)
    min_lag = int(math.floor(GRID_HZ * 60.0 / TEMPO_MAX_BPM))
    max_lag = int(math.ceil(GRID_HZ * 60.0 / TEMPO_MIN_BPM))
    if e.size < MIN_PERIODS * max_lag:
        return none
    x = e - e.mean()
    var = float(np.dot(x, x)) / x.size
    if var <= 1e-12:
        return none
    n = x.size
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    spec = np.fft.rfft(x, nfft)
    acf = np.fft.irfft(spec * np.conj(spec), nfft)[: max_lag + 2]
    acf = acf / (n - np.arange(acf.size)) / var
    lags, _ = find_peaks(acf)
    lags = lags[(lags >= min_lag) & (lags <= max_lag)]
    if lags.size == 0:
        return {**none, "confidence": round(float(np.clip(acf[min_lag:].max(), 0, 1)), 3)}
    heights = acf[lags]
    best = int(lags[np.argmax(heights >= OCTAVE_RATIO * heights.max())])
    confidence = float(np.clip(acf[best], 0.0, 1.0))
    if confidence < MIN_TEMPO_CONFIDENCE:
        return {**none, "confidence": round(confidence, 3)}
    period = (best + _parabolic(acf, best)) / GRID_HZ
    return {
        "bpm": round(60.0 / period, 2),
        "period_s": round(period, 4),
        "confidence": round(confidence, 3),
    }

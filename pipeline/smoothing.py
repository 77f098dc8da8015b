"""The zero-phase low-pass filter of every smoothed series (angles, world landmarks): short
gaps filled by linear interpolation, then a Butterworth filter run forwards and backwards
(`scipy.signal.filtfilt`) over each run of known values, as Sports2D smooths its angles.

Sports2D's default (Config_demo.toml: 6 Hz, order 4 as a 2nd-order filtfilt) is the usual
cut-off for human movement kinematics; it is clamped below Nyquist for low frame rates.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

DEFAULT_CUTOFF_HZ: float = 6.0
DEFAULT_MAX_GAP_FRAMES: int = 10


def wrap(values: np.ndarray, period: float | np.ndarray) -> np.ndarray:
    """Periodic values (angles) into [-period/2, period/2)."""
    return (values + period / 2) % period - period / 2


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def lowpass(
    raw: np.ndarray,
    fps: float,
    *,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
    max_gap_frames: int = DEFAULT_MAX_GAP_FRAMES,
    periods: np.ndarray | None = None,
) -> np.ndarray:
    """Each column of `raw` (frames x columns, NaN where unknown): gaps of up to
    `max_gap_frames` inside the series filled, then each run of known values low-passed
    (runs too short for the filter are kept as they are); longer gaps stay NaN. `periods`:
    a column's period when it is an angle (unwrapped before, wrapped back into
    [-period/2, period/2) after)."""
    data = np.array(raw, dtype=np.float64, copy=True)
    if fps <= 0:
        raise ValueError("fps must be positive")
    cutoff = min(cutoff_hz, fps / 2.001)  # Sports2D's clamp for real-time frame rates
    b, a = signal.butter(2, cutoff / (fps / 2), "low")
    padlen = 3 * max(len(a), len(b))
    index = np.arange(len(data))
    for col in range(data.shape[1]):
        series = data[:, col]
        known = np.isfinite(series)
        if known.sum() < 2:
            continue
        if periods is not None:
            series[known] = np.unwrap(series[known], period=periods[col])
        for start, stop in runs(~known):
            if start > 0 and stop < len(series) and stop - start <= max_gap_frames:
                series[start:stop] = np.interp(index[start:stop], index[known], series[known])
        for start, stop in runs(np.isfinite(series)):
            if stop - start > padlen:
                series[start:stop] = signal.filtfilt(b, a, series[start:stop])
        if periods is not None:
            data[:, col] = wrap(series, periods[col])
    return data

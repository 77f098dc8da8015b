"""Where the reference's dance lies in the attempt: dynamic time warping with open ends on both
sides, coarse to fine.

- **Local cost** of a reference frame i and an attempt frame j: the mean distance between
  their bone vectors (body scales), over the bones seen on both sides (at least
  `MIN_BONES`); *unknown* when either side has no pose.
- **Objective.** A path gives every reference frame it covers one attempt frame; its cost
  is the sum over covered reference frames of (local cost - `REWARD`), unknown pairs adding
  nothing, plus `TEMPO_STEP_COST` for each step off the diagonal. Covering a frame that
  matches better than `REWARD` pays, so the path reaches as far as the dance matches, and
  it may start on the first row or column and end on the last row or column: the attempt
  may begin before or after the reference's dance (a lead-in, a walk to the camera) and end
  elsewhere. A frame without a pose neither helps nor costs, so a video's own missed frames
  do not bend its path: compared with itself, a performance's path is the exact diagonal
  whatever its detection rate (every other path pays for leaving it).
- **Steps.** (1, 1); (1, 2): the attempt skips a frame (twice as fast); (2, 1): two
  reference frames on one attempt frame (half as fast), as in Sakoe and Chiba's symmetric
  P=1 pattern: a local tempo between 0.5x and 2x, never a frozen stretch matched to a
  moving one.
- **Coarse to fine.** The full matrix of two 10-minute videos at 30 Hz has 3.2e8 cells, so
  the path is found first on both videos binned to `COARSE_HZ` (every cell, any offset),
  then at full rate inside a band of `BAND_S` around it (as FastDTW and multiscale DTW
  do). Memory is that of the coarse matrix (about 9 bytes a cell) plus the band's.

Both passes are compiled by numba (librosa's dependency), cached on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from pipeline.compare.poses import MIN_BONES

REWARD = 0.35  # body scales: a covered reference frame pays when it matches closer than this
TEMPO_STEP_COST = 0.15  # each (1, 2) or (2, 1) step, while placing the dance
FLOW_STEP_COST = 0.02  # the same, once its ends are placed
COARSE_HZ = 5.0
MAX_COARSE_CELLS = 25_000_000  # ~225 MB: the coarse rate is lowered beyond (videos > 16 min)
BAND_S = 1.0  # the fine pass looks this far around the coarse path (each side)
FLOW_BAND_S = 1.5  # and the last pass this far around the placed path
SQUEEZE_S = 1.0  # an end of the path this long ...
SQUEEZE_RATIO = 1.95  # ... covering this many reference frames per attempt frame ...
SQUEEZE_MIN = 6  # ... over at least this many reference frames, is straightened

START, DIAGONAL, FASTER, SLOWER = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True)
def _cost(a: np.ndarray, b: np.ndarray, i: int, j: int, min_bones: int) -> float:
    total = 0.0
    count = 0
    for k in range(a.shape[1]):
        ax, bx = a[i, k, 0], b[j, k, 0]
        if ax == ax and bx == bx:  # neither is NaN
            dx = ax - bx
            dy = a[i, k, 1] - b[j, k, 1]
            total += math.sqrt(dx * dx + dy * dy)
            count += 1
    if count < min_bones:
        return math.nan
    return total / count


@numba.njit(cache=True, nogil=True)
def _gain(c: float, reward: float, unknown: float) -> float:
    return unknown if c != c else c - reward


@numba.njit(cache=True, nogil=True)
def _banded_dtw(
    a: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    reward: float,
    unknown: float,
    step_cost: float,
    min_bones: int,
    start_i: int,
    start_j: int,
):
    """Accumulated cost and back-pointers for rows i, columns lo[i]..hi[i] (empty if lo > hi).
    A path starts on the first row or column, or only at (start_i, start_j) if that is >= 0."""
    n = a.shape[0]
    width = 1
    for i in range(n):
        width = max(width, hi[i] - lo[i] + 1)
    acc = np.full((n, width), np.inf)
    back = np.full((n, width), -1, dtype=np.int8)
    for i in range(n):
        for j in range(lo[i], hi[i] + 1):
            here = _gain(_cost(a, b, i, j, min_bones), reward, unknown)
            best = np.inf
            arg = -1
            if (start_i < 0 and (i == 0 or j == 0)) or (i == start_i and j == start_j):
                best, arg = here, START
            if i >= 1 and j >= 1 and lo[i - 1] <= j - 1 <= hi[i - 1]:
                v = acc[i - 1, j - 1 - lo[i - 1]] + here
                if v < best:
                    best, arg = v, DIAGONAL
            if i >= 1 and j >= 2 and lo[i - 1] <= j - 2 <= hi[i - 1]:
                v = acc[i - 1, j - 2 - lo[i - 1]] + here + step_cost
                if v < best:
                    best, arg = v, FASTER
            if i >= 2 and j >= 1 and lo[i - 2] <= j - 1 <= hi[i - 2]:
                middle = _gain(_cost(a, b, i - 1, j, min_bones), reward, unknown)
                v = acc[i - 2, j - 1 - lo[i - 2]] + middle + here + step_cost
                if v < best:
                    best, arg = v, SLOWER
            acc[i, j - lo[i]] = best
            back[i, j - lo[i]] = arg
    return acc, back


@numba.njit(cache=True, nogil=True)
def _best_end(acc: np.ndarray, lo: np.ndarray, hi: np.ndarray, m: int):
    """The cheapest cell of the last row or the last column."""
    n = acc.shape[0]
    best, bi, bj = np.inf, -1, -1
    for j in range(hi[n - 1], lo[n - 1] - 1, -1):
        v = acc[n - 1, j - lo[n - 1]]
        if v < best:
            best, bi, bj = v, n - 1, j
    for i in range(n - 1, -1, -1):
        if lo[i] <= m - 1 <= hi[i]:
            v = acc[i, m - 1 - lo[i]]
            if v < best:
                best, bi, bj = v, i, m - 1
    return best, bi, bj


@numba.njit(cache=True, nogil=True)
def _backtrack(back: np.ndarray, lo: np.ndarray, i: int, j: int):
    rows = np.empty(back.shape[0] + 1, dtype=np.int64)
    cols = np.empty(back.shape[0] + 1, dtype=np.int64)
    k = 0
    while True:
        rows[k], cols[k] = i, j
        k += 1
        arg = back[i, j - lo[i]]
        if arg == START or arg < 0:
            break
        if arg == DIAGONAL:
            i, j = i - 1, j - 1
        elif arg == FASTER:
            i, j = i - 1, j - 2
        else:  # SLOWER: the middle cell (i - 1, j) is on the path
            rows[k], cols[k] = i - 1, j
            k += 1
            i, j = i - 2, j - 1
    return rows[:k][::-1].copy(), cols[:k][::-1].copy()


@dataclass(frozen=True)
class Path:
    """Reference grid index -> attempt grid index, one pair per covered reference frame."""

    ref: np.ndarray  # (L,) increasing by one
    att: np.ndarray  # (L,) non-decreasing
    cost: float  # the objective of placing it (lower is better)


def _dtw(
    a: np.ndarray,
    b: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    step_cost: float,
    ends: tuple[tuple[int, int], tuple[int, int]] | None = None,
    reward: float = REWARD,
    unknown: float = 0.0,
) -> Path:
    """The cheapest path in the band: open ends, or from ends[0] to ends[1]."""
    start_i, start_j = ends[0] if ends else (-1, -1)
    acc, back = _banded_dtw(
        np.ascontiguousarray(a, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        lo,
        hi,
        reward,
        unknown,
        step_cost,
        MIN_BONES,
        start_i,
        start_j,
    )
    if ends:
        i, j = ends[1]
        cost = float(acc[i, j - lo[i]]) if lo[i] <= j <= hi[i] else math.inf
    else:
        cost, i, j = _best_end(acc, lo, hi, len(b))
    if i < 0 or not math.isfinite(cost):
        raise ValueError("the reference and the attempt cannot be aligned")
    rows, cols = _backtrack(back, lo, i, j)
    return Path(rows, cols, float(cost))


def coarse_bins(bones: np.ndarray, size: int) -> np.ndarray:
    """Bone vectors averaged over bins of `size` frames (NaN where none was seen)."""
    n = len(bones)
    count = math.ceil(n / size)
    padded = np.full((count * size,) + bones.shape[1:], np.nan)
    padded[:n] = bones
    blocks = padded.reshape(count, size, *bones.shape[1:])
    seen = np.isfinite(blocks[..., 0])
    total = np.where(np.isfinite(blocks), blocks, 0.0).sum(axis=1)
    number = seen.sum(axis=1)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(number > 0, total / np.maximum(number, 1), np.nan)


def coarse_size(n: int, m: int, rate_hz: float) -> int:
    """Frames per coarse bin: `COARSE_HZ`, coarser when the coarse matrix would be too big."""
    size = max(1, int(round(rate_hz / COARSE_HZ)))
    while math.ceil(n / size) * math.ceil(m / size) > MAX_COARSE_CELLS:
        size += 1
    return size


def full_band(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n, dtype=np.int64), np.full(n, m - 1, dtype=np.int64)


def band_around(
    path: Path, size: int, n: int, m: int, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fine columns lo[i]..hi[i] for each fine row: the coarse path's cells, widened by
    `radius` fine frames in both directions, made monotone (rows the band misses are empty)."""
    lo = np.full(n, m, dtype=np.int64)
    hi = np.full(n, -1, dtype=np.int64)
    for r, c in zip(path.ref.tolist(), path.att.tolist(), strict=True):
        rows = slice(max(0, r * size - radius), min(n, (r + 1) * size + radius))
        lo[rows] = np.minimum(lo[rows], max(0, c * size - radius))
        hi[rows] = np.maximum(hi[rows], min(m - 1, (c + 1) * size - 1 + radius))
    covered = np.flatnonzero(hi >= lo)
    first, last = covered[0], covered[-1]
    lo[first : last + 1] = np.minimum.accumulate(lo[first : last + 1][::-1])[::-1]
    hi[first : last + 1] = np.maximum.accumulate(hi[first : last + 1])
    return lo, hi


def coarse_path(a: np.ndarray, b: np.ndarray, rate_hz: float) -> tuple[Path, int]:
    """The path on both videos binned to `COARSE_HZ` (every cell, any offset), and the bin
    size in frames."""
    size = coarse_size(len(a), len(b), rate_hz)
    coarse_a, coarse_b = coarse_bins(a, size), coarse_bins(b, size)
    lo, hi = full_band(len(coarse_a), len(coarse_b))
    return _dtw(coarse_a, coarse_b, lo, hi, step_cost=TEMPO_STEP_COST), size


def align(
    a: np.ndarray, b: np.ndarray, rate_hz: float, rough: tuple[Path, int] | None = None
) -> Path:
    """The path from the reference's bone vectors `a` (grid of `rate_hz`) to the attempt's `b`
    (see the module docstring): coarse (`rough`, if already found), then at full rate with
    open ends (where the dance lies), then again between those ends with a near-free tempo
    (how it flows)."""
    n, m = len(a), len(b)
    path, size = rough or coarse_path(a, b, rate_hz)
    lo, hi = band_around(path, size, n, m, round(BAND_S * rate_hz))
    placed = _unsqueezed(_dtw(a, b, lo, hi, step_cost=TEMPO_STEP_COST), n, m, rate_hz)
    ends = ((int(placed.ref[0]), int(placed.att[0])), (int(placed.ref[-1]), int(placed.att[-1])))
    lo, hi = band_around(placed, 1, n, m, round(FLOW_BAND_S * rate_hz))
    typical = _typical_cost(a, b, placed)
    flow = _dtw(a, b, lo, hi, step_cost=FLOW_STEP_COST, ends=ends, reward=0.0, unknown=typical)
    return Path(flow.ref, flow.att, placed.cost)


def _unsqueezed(path: Path, n: int, m: int, rate_hz: float) -> Path:
    """The path with a squeezed end straightened: where it reaches the attempt's first or
    last frame through (2, 1) steps only, it was covering reference frames the attempt never
    showed (a covered frame pays) rather than following the dance. That stretch is replaced
    by the diagonal from where the squeeze began, as far as both videos go."""
    ref, att = path.ref.tolist(), path.att.tolist()
    reach = max(SQUEEZE_MIN, int(round(SQUEEZE_S * rate_hz)))

    def squeezed(span_ref: int, span_att: int) -> bool:
        return span_ref >= SQUEEZE_MIN and span_ref >= SQUEEZE_RATIO * span_att

    if att[-1] == m - 1:
        for k in range(max(0, len(ref) - 1 - reach), len(ref) - 1):
            if squeezed(ref[-1] - ref[k], att[-1] - att[k]):
                steps = min(n - 1 - ref[k], m - 1 - att[k])
                ref = ref[: k + 1] + [ref[k] + s for s in range(1, steps + 1)]
                att = att[: k + 1] + [att[k] + s for s in range(1, steps + 1)]
                break
    if att[0] == 0:
        for k in range(min(len(ref) - 1, reach), 0, -1):
            if squeezed(ref[k] - ref[0], att[k] - att[0]):
                steps = min(ref[k], att[k])
                ref = [ref[k] - s for s in range(steps, 0, -1)] + ref[k:]
                att = [att[k] - s for s in range(steps, 0, -1)] + att[k:]
                break
    return Path(np.asarray(ref), np.asarray(att), path.cost)


def _typical_cost(a: np.ndarray, b: np.ndarray, path: Path) -> float:
    """The median local cost along a path (0 if nothing on it was compared)."""
    costs = [
        _cost(a, b, int(i), int(j), MIN_BONES) for i, j in zip(path.ref, path.att, strict=True)
    ]
    known = [c for c in costs if math.isfinite(c)]
    return float(np.median(known)) if known else 0.0


def warm_up() -> None:
    """Compile the passes once (numba's cache), as the worker image's build does."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 12, 2))
    align(a, a, 30.0)

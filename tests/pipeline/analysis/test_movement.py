"""Movement energy, accents and tempo on synthetic landmark series whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.analysis.movement import (
    energy_per_second,
    movement_accents,
    movement_energy,
    movement_tempo,
)
from pipeline.analysis.music import beat_alignment

W, H = 640, 480
FPS = 30.0
BODY_PX = 3 * 0.25 * H  # shoulders at y=0.35, hips at y=0.60: 360 px
MOVING = (15, 16, 27, 28)  # wrists and ankles
HALF_MOVING = (13, 14, 25, 26)  # elbows and knees follow at half the amplitude


def _still_body(n: int) -> np.ndarray:
    """(n, 33, 4) landmarks of a standing body, every point visible."""
    pose = np.zeros((33, 4))
    pose[:, 3] = 0.9
    pose[:11, :2] = [0.5, 0.22]  # face
    pose[11], pose[12] = [0.45, 0.35, 0, 0.9], [0.55, 0.35, 0, 0.9]
    pose[13], pose[14] = [0.42, 0.47, 0, 0.9], [0.58, 0.47, 0, 0.9]
    pose[15:23:2, :2], pose[16:23:2, :2] = [0.40, 0.58], [0.60, 0.58]  # left/right hand
    pose[23], pose[24] = [0.47, 0.60, 0, 0.9], [0.53, 0.60, 0, 0.9]
    pose[25], pose[26] = [0.47, 0.75, 0, 0.9], [0.53, 0.75, 0, 0.9]
    pose[27:33:2, :2], pose[28:33:2, :2] = [0.47, 0.90], [0.53, 0.90]  # left/right foot
    return np.repeat(pose[None], n, axis=0)


def _dancer(beats: np.ndarray, times: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Wrists and ankles snap sideways at each beat (alternating direction), their speed
    peaking on the beat; plus 0.5 px of pose jitter on every point."""
    lm = _still_body(times.size)
    width = 0.03  # s, logistic step: the move takes ~0.15 s
    z = np.clip((times[:, None] - beats[None, :]) / width, -50, 50)
    steps = 1 / (1 + np.exp(-z))
    signs = np.where(np.arange(beats.size) % 2 == 0, 1.0, -1.0)
    shift = 0.05 * (steps * signs).sum(axis=1)  # 32 px
    lm[:, list(MOVING), 0] += shift[:, None]
    lm[:, list(HALF_MOVING), 0] += 0.5 * shift[:, None]
    rng = np.random.default_rng(seed)
    lm[:, :, 0] += rng.normal(0, 0.5 / W, lm.shape[:2])
    lm[:, :, 1] += rng.normal(0, 0.5 / H, lm.shape[:2])
    return lm


def _beats(bpm: float, duration: float) -> np.ndarray:
    return np.arange(0.5, duration - 0.5, 60.0 / bpm)


def test_still_body_has_no_energy() -> None:
    times = np.arange(60) / FPS
    energy = movement_energy(_still_body(60), times, W, H)
    assert math.isnan(energy[0])
    assert np.allclose(energy[1:], 0.0)


@pytest.mark.parametrize("k", [0.5, 2.0])
def test_translation_speed_in_body_heights(k: float) -> None:
    times = np.arange(90) / FPS
    lm = _still_body(90)
    lm[:, :, 0] += (k * BODY_PX / W) * times[:, None] * 0.6  # diagonal: 0.6 along x,
    lm[:, :, 1] += (k * BODY_PX / H) * times[:, None] * 0.8  # 0.8 along y
    energy = movement_energy(lm, times, W, H)
    assert np.allclose(energy[1:], k, rtol=1e-6)


def test_variable_frame_rate_uses_real_dt() -> None:
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.02, 0.05, 80))
    lm = _still_body(80)
    lm[:, :, 0] += (1.5 * BODY_PX / W) * times[:, None]
    assert np.allclose(movement_energy(lm, times, W, H)[1:], 1.5, rtol=1e-6)


def test_missing_and_unknown_frames_are_nan() -> None:
    times = np.arange(20) / FPS
    lm = _still_body(20)
    lm[:, :, 0] += 0.01 * np.arange(20)[:, None]
    lm[5] = np.nan  # no pose
    lm[10, :, 3] = 0.2  # nothing visible
    lm[15, 3:, 3] = 0.1  # three visible points only
    times[18] = times[17]  # dt = 0
    energy = movement_energy(lm, times, W, H)
    unknown = {0, 5, 6, 10, 11, 15, 16, 18}
    assert {i for i in range(20) if math.isnan(energy[i])} == unknown


def test_energy_per_second_covers_the_video() -> None:
    times = np.arange(100) / FPS  # 0 .. 3.3 s
    energy = np.where(times < 1, 1.0, 3.0)
    energy[0] = np.nan
    energy[(times >= 2) & (times < 3)] = np.nan
    rows = energy_per_second(energy, times)
    assert [r["t"] for r in rows] == [0, 1, 2, 3]
    assert [r["energy"] for r in rows] == [1.0, 3.0, None, 3.0]
    assert energy_per_second(np.array([]), np.array([])) == []


@pytest.fixture(scope="module")
def on_beat() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beats, times, energy) of a dancer hitting every beat of 120 BPM for 20 s at 30 fps."""
    times = np.arange(int(20 * FPS)) / FPS
    beats = _beats(120, 20)
    return beats, times, movement_energy(_dancer(beats, times), times, W, H)


def test_accents_sit_on_the_beats(on_beat: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    beats, times, energy = on_beat
    accents = movement_accents(energy, times)
    assert accents.size == beats.size
    assert np.max(np.abs(accents - beats)) < 1 / FPS
    result = beat_alignment(accents, beats)
    assert result["on_beat_score"] >= 0.9
    assert abs(result["mean_offset_ms"]) < 1000 / FPS
    assert result["accents"] == beats.size and result["tolerance_ms"] == 100.0


@pytest.mark.parametrize("lag", [0.08, -0.05, 0.15])
def test_late_and_early_dancer(lag: float) -> None:
    times = np.arange(int(20 * FPS)) / FPS
    beats = _beats(120, 20)
    energy = movement_energy(_dancer(beats + lag, times), times, W, H)
    result = beat_alignment(movement_accents(energy, times), beats, tolerance_s=0.1)
    assert result["mean_offset_ms"] == pytest.approx(lag * 1000, abs=1000 / FPS)
    assert result["offset_spread_ms"] < 1000 / FPS
    assert result["on_beat_score"] == (1.0 if abs(lag) < 0.1 else 0.0)


def test_random_accents_score_low() -> None:
    beats = _beats(120, 60)
    accents = np.random.default_rng(7).uniform(beats[0], beats[-1], 200)
    result = beat_alignment(accents, beats)
    assert result["on_beat_score"] < 0.5  # chance: 2 x 0.1 s / 0.5 s = 0.4
    assert result["accents"] == 200


def test_accents_with_variable_frame_rate_and_gaps() -> None:
    rng = np.random.default_rng(5)
    times = np.cumsum(rng.uniform(0.025, 0.045, 600))
    beats = _beats(100, float(times[-1]))
    lm = _dancer(beats, times)
    lm[200:204] = np.nan  # a short dropout
    accents = movement_accents(movement_energy(lm, times, W, H), times)
    near = np.abs(accents[:, None] - beats[None, :]).min(axis=1)
    assert np.mean(near < 0.045) >= 0.9
    assert accents.size >= 0.9 * beats.size


def test_still_or_empty_series_has_no_accents() -> None:
    times = np.arange(300) / FPS
    still = _still_body(300)
    still[:, :, :2] += np.random.default_rng(1).normal(0, 0.3 / W, still[:, :, :2].shape)
    assert movement_accents(movement_energy(still, times, W, H), times).size == 0
    assert movement_accents(np.full(300, np.nan), times).size == 0


def test_tempo_of_the_on_beat_dancer(on_beat: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    _, times, energy = on_beat
    tempo = movement_tempo(energy, times)
    assert tempo["bpm"] == pytest.approx(120, rel=0.02)  # one energy peak per beat
    assert tempo["period_s"] == pytest.approx(0.5, rel=0.02)
    assert tempo["confidence"] > 0.7


@pytest.mark.parametrize("bpm", [75, 128])
def test_tempo_at_other_rates(bpm: float) -> None:
    times = np.arange(int(20 * FPS)) / FPS
    energy = movement_energy(_dancer(_beats(bpm, 20), times), times, W, H)
    assert movement_tempo(energy, times)["bpm"] == pytest.approx(bpm, rel=0.02)


def test_tempo_of_noise_and_short_series() -> None:
    times = np.arange(int(20 * FPS)) / FPS
    noise = np.random.default_rng(11).exponential(1.0, times.size)
    tempo = movement_tempo(noise, times)
    assert tempo["confidence"] < 0.25 and tempo["bpm"] is None
    short = movement_tempo(noise[:60], times[:60])
    assert short == {"bpm": None, "period_s": None, "confidence": 0.0}
    flat = movement_tempo(np.zeros(times.size), times)
    assert flat["bpm"] is None


def test_alignment_edges_and_empty_inputs() -> None:
    beats = np.array([1.0, 1.5, 2.0, 2.5])
    # before the first beat by more than half an interval: left out; -40 ms early; +30 ms late
    result = beat_alignment(np.array([0.5, 1.46, 2.03, 3.2]), beats, tolerance_s=0.05)
    assert result["accents"] == 2
    assert result["mean_offset_ms"] == pytest.approx(-5.0)
    assert result["offset_spread_ms"] == pytest.approx(35.0)
    assert result["on_beat_score"] == 1.0
    none = {"on_beat_score": None, "mean_offset_ms": None, "offset_spread_ms": None}
    for accents, beat_times in [([], beats), ([1.0], []), ([1.0], [1.0])]:
        result = beat_alignment(np.array(accents), np.array(beat_times))
        assert {k: result[k] for k in none} == none and result["accents"] == 0

"""Soundtrack decoding and beat tracking on synthetic click tracks whose tempo is known."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.analysis.music import load_audio, music_analysis, track_beats, warm_up

SR = 22050


def _clicks(bpm: float, seconds: float, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """(samples, click times): 1 kHz blips with a 5 ms decay, from 0.3 s on."""
    times = np.arange(0.3, seconds - 0.3, 60.0 / bpm)
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    n = int(0.04 * sr)
    blip = 0.8 * np.sin(2 * np.pi * 1000 * np.arange(n) / sr) * np.exp(-np.arange(n) / (0.005 * sr))
    for t in times:
        i = int(round(t * sr))
        y[i : i + n] += blip[: y.size - i].astype(np.float32)
    return y, times


def _write_video(path: Path, audio: np.ndarray | None, seconds: float, sr: int = 44100) -> None:
    """A few black 64x64 H.264 frames (10 fps), plus `audio` as mono AAC when given."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream("aac", rate=sr) if audio is not None else None
        if sound is not None:
            sound.layout = "mono"
        black = np.zeros((64, 64, 3), dtype=np.uint8)
        for _ in range(int(seconds * 10)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(black, format="rgb24")))
        out.mux(video.encode(None))
        if audio is None or sound is None:
            return
        for start in range(0, audio.size, 1024):
            chunk = np.ascontiguousarray(audio[None, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = sr, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))


def _near(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For each found time, the signed distance to the nearest true time."""
    idx = np.abs(found[:, None] - truth[None, :]).argmin(axis=1)
    return found - truth[idx]


@pytest.fixture(scope="module")
def warm() -> float:
    """Seconds the first beat tracking (numba compilation) took in this process."""
    start = time.perf_counter()
    warm_up()
    return time.perf_counter() - start


@pytest.mark.parametrize("bpm", [100, 120, 128])
def test_click_track_tempo_and_beats(warm: float, bpm: float) -> None:
    y, clicks = _clicks(bpm, 12)
    result = track_beats(y, SR)
    assert result["tempo_bpm"] == pytest.approx(bpm, rel=0.02)
    beats = np.array(result["beat_times"])
    assert beats.size >= clicks.size - 2
    assert np.max(np.abs(_near(beats, clicks))) < 0.03
    assert result["confidence"] > 0.8


def test_noise_and_short_input(warm: float) -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 6 * SR).astype(np.float32)
    assert track_beats(noise, SR)["confidence"] < 0.3
    assert track_beats(np.zeros(100, np.float32), SR) == {
        "tempo_bpm": None,
        "beat_times": [],
        "confidence": 0.0,
    }


@pytest.fixture(scope="module")
def clicked_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    y, clicks = _clicks(120, 8, sr=44100)
    path = tmp_path_factory.mktemp("music") / "clicks.mp4"
    _write_video(path, y, 8)
    return path, clicks


def test_load_audio_reads_the_soundtrack(clicked_video: tuple[Path, np.ndarray]) -> None:
    path, clicks = clicked_video
    loaded = load_audio(path)
    assert loaded is not None
    samples, sr = loaded
    assert sr == SR and samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / SR - 8) < 0.1
    loud = np.flatnonzero(np.abs(samples) > 0.3) / SR  # the blips come back where they were
    assert np.max(np.abs(_near(loud, clicks))) < 0.04
    short = load_audio(path, sr=16000, max_seconds=1.5)
    assert short is not None and short[0].size == 24000 and short[1] == 16000


def test_music_analysis_of_a_video(warm: float, clicked_video: tuple[Path, np.ndarray]) -> None:
    path, clicks = clicked_video
    late = clicks + 0.04
    music = music_analysis(path, late)
    assert music["available"] is True
    assert music["tempo_bpm"] == pytest.approx(120, rel=0.02)
    assert np.max(np.abs(_near(np.array(music["beat_times"]), clicks))) < 0.03
    assert music["accent_times"] == [round(float(t), 3) for t in late]
    assert music["on_beat_score"] == 1.0
    assert music["mean_offset_ms"] == pytest.approx(40, abs=30)
    assert music["accents"] >= clicks.size - 2 and music["tolerance_ms"] == 100.0
    assert 0 <= music["beat_confidence"] <= 1


def test_videos_without_usable_audio(tmp_path: Path) -> None:
    mute = tmp_path / "mute.mp4"
    _write_video(mute, None, 1)
    assert load_audio(mute) is None
    assert music_analysis(mute, np.array([0.5])) == {
        "available": False,
        "reason": "the video has no audio track",
    }
    silent = tmp_path / "silent.mp4"
    _write_video(silent, np.zeros(44100, dtype=np.float32), 1)
    assert music_analysis(silent, np.array([])) == {
        "available": False,
        "reason": "the audio track is silent",
    }
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 100)
    assert load_audio(garbage) is None
    assert music_analysis(garbage, np.array([]))["reason"] == "the audio track could not be decoded"


def test_damaged_soundtrack_gives_what_decoded(
    tmp_path: Path, clicked_video: tuple[Path, np.ndarray]
) -> None:
    data = bytearray(clicked_video[0].read_bytes())
    middle = len(data) // 3
    data[middle : middle + 4000] = np.random.default_rng(2).bytes(4000)  # garbage in the media
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    loaded = load_audio(damaged)  # must not raise: the damaged packets become silence
    assert loaded is not None and abs(loaded[0].size / SR - 8) < 0.1
    loud = np.flatnonzero(np.abs(loaded[0]) > 0.3) / SR  # the clicks kept their time
    assert loud.size and np.max(np.abs(_near(loud, clicked_video[1]))) < 0.04
    head = tmp_path / "head.mp4"  # the index (moov) is at the end: nothing can be read
    head.write_bytes(bytes(data[: len(data) // 2]))
    assert load_audio(head) is None

"""Steadier landmarks (`pipeline.pose.steady`): the filter takes out jitter without lag, makes
no pose up, and gives the same numbers streaming (the overlay) as over a whole track
(keypoints.json's copy); the pipeline draws and writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.pose.steady import (
    SIGMA_S,
    SteadyWindow,
    gaussian,
    smooth_rows,
    smooth_track,
    weights,
)
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.stages import FrameWriter
from pipeline.video.source import AudioPacket, DecodedFrame
from tests.clips import make_clip

FPS = 30.0


def _track(positions: np.ndarray) -> np.ndarray:
    """A (frames, 33, 4) track: every landmark at `positions` (frames, 3), visibility 0.9."""
    track = np.empty((len(positions), 33, 4))
    track[:, :, :3] = positions[:, None, :]
    track[:, :, 3] = 0.9
    return track


def test_the_strengths_grow_and_none_is_the_identity():
    assert list(SIGMA_S) == ["none", "light", "strong"]
    assert weights(FPS, "none").tolist() == [1.0]
    light, strong = weights(FPS, "light"), weights(FPS, "strong")
    assert len(light) % 2 == len(strong) % 2 == 1 and len(light) < len(strong)
    assert np.allclose(light, light[::-1])  # centred: no lag
    assert len(weights(60.0, "light")) > len(light)  # the same seconds at any frame rate
    with pytest.raises(ValueError, match="unknown smoothing"):
        weights(FPS, "extreme")


def test_jitter_is_taken_out_and_a_steady_movement_is_not_delayed():
    rng = np.random.default_rng(0)
    t = np.arange(90) / FPS
    truth = np.stack([0.2 + 0.3 * t, 0.5 + 0.0 * t, 0.1 * t], axis=1)  # a steady glide
    noisy = _track(truth + rng.normal(0, 0.004, truth.shape))
    smoothed = smooth_track(noisy, weights(FPS, "strong"))

    def jitter(track: np.ndarray) -> float:
        return float(np.abs(np.diff(track[:, 0, :2], n=2, axis=0)).mean())

    assert jitter(smoothed) < jitter(noisy) / 4
    # centred weights follow a straight line exactly: the filter does not lag
    clean = smooth_track(_track(truth), weights(FPS, "strong"))
    reach = len(weights(FPS, "strong")) // 2
    assert np.allclose(clean[reach:-reach, :, :3], _track(truth)[reach:-reach, :, :3])
    assert np.array_equal(smoothed[:, :, 3], noisy[:, :, 3])  # visibility as found


def test_frames_without_the_dancer_stay_empty_and_do_not_count():
    track = _track(np.full((20, 3), 0.5))
    track[8:11] = np.nan
    track[12, :, :3] = 0.9  # an outlier beside the gap
    smoothed = smooth_track(track, weights(FPS, "light"))
    assert np.isnan(smoothed[8:11]).all()
    assert np.isfinite(smoothed[:8]).all() and np.isfinite(smoothed[11:]).all()
    assert np.allclose(smoothed[:6, :, :3], 0.5)  # the gap's NaN never leaks in


def _random_rows(several: bool, frames: int = 60):
    rng = np.random.default_rng(3)
    if not several:
        return [None if rng.random() < 0.2 else rng.random((33, 4)) for _ in range(frames)]
    return [
        [(person, rng.random((33, 4))) for person in (1, 2, 5) if rng.random() > 0.3]
        for _ in range(frames)
    ]


@pytest.mark.parametrize("several", [False, True], ids=["one dancer", "several"])
@pytest.mark.parametrize("level", ["light", "strong"])
def test_streaming_gives_what_the_whole_track_gives_in_the_order_pushed(several, level):
    rows = _random_rows(several)
    kernel = weights(FPS, level)
    whole = smooth_rows(rows, kernel, several=several)
    window = SteadyWindow(kernel, several=several)
    out = []
    held = 0
    for index, found in enumerate(rows):
        if index % 4 == 0:
            out.extend(window.push(f"audio {index}"))  # no landmarks: passes in order
        out.extend(window.push(index, found))
        held = max(held, len([1 for item, _ in out if isinstance(item, int)]) - index)
    out.extend(window.flush())
    order = [item for item, _ in out]
    expected = []
    for index in range(len(rows)):
        expected += [f"audio {index}"] * (index % 4 == 0) + [index]
    assert order == expected
    streamed = [found for item, found in out if isinstance(item, int)]
    for got, want in zip(streamed, whole, strict=True):
        if not several:
            assert (got is None) == (want is None)
            if got is not None:
                assert np.allclose(got, want, atol=1e-6)
        else:
            assert [p for p, _ in got] == [p for p, _ in want]
            for (_, a), (_, b) in zip(got, want, strict=True):
                assert np.allclose(a, b, atol=1e-6)


def test_a_frame_waits_only_for_the_frames_the_filter_needs():
    kernel = gaussian(FPS, 0.05)
    reach = len(kernel) // 2
    window = SteadyWindow(kernel, several=False)
    released = [list(window.push(i, np.zeros((33, 4)))) for i in range(reach + 3)]
    assert all(not out for out in released[:reach])
    assert [[item for item, _ in out] for out in released[reach:]] == [[0], [1], [2]]


class _Recorder:
    """Stands in for the overlay and the encoder: what each frame was drawn with."""

    width, height = 64, 48

    def __init__(self):
        self.drawn: list[tuple[int, object]] = []
        self.audio: list[object] = []
        self.order: list[str] = []

    def draw(self, rgb, found, *, frame_index, **_):
        self.drawn.append((frame_index, found))

    def write_frame(self, rgb, pts):
        self.order.append(f"frame {pts}")

    def write_audio(self, packet):
        self.order.append(f"audio {packet}")

    def close(self):
        pass


def test_the_writer_draws_the_smoothed_landmarks_and_keeps_the_models():
    rows = _random_rows(several=False, frames=30)
    recorder = _Recorder()
    writer = FrameWriter(recorder, _Metrics(), recorder, 30, kernel=weights(FPS, "light"))
    writer.start()
    for index, found in enumerate(rows):
        writer.put(AudioPacket(index))
        frame = DecodedFrame(index, index, index / FPS, np.zeros((48, 64, 3), np.uint8))
        writer.put((frame, found, None))
    writer.finish()
    smoothed = smooth_rows(rows, weights(FPS, "light"), several=False)
    assert [index for index, _ in recorder.drawn] == list(range(30))
    for (_, drawn), want in zip(recorder.drawn, smoothed, strict=True):
        assert (drawn is None) == (want is None)
        if drawn is not None:
            assert np.allclose(drawn, want, atol=1e-6)
    assert [found for _, _, found in writer.rows] == rows  # the model's, for keypoints.json
    # audio and video still go out in the order they came
    assert recorder.order == [f"{kind} {i}" for i in range(30) for kind in ("audio", "frame")]


class _Metrics:
    def add(self, time_s, found):
        pass


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("steady")
    return make_clip(folder / "in.mp4", person="astronaut", width=320, height=240, frames=24)


@pytest.mark.parametrize("level", ["none", "light", "strong"])
def test_keypoints_json_keeps_the_models_landmarks_and_a_smoothed_copy(
    moving_clip, tmp_path, level
):
    options = PipelineOptions(smoothing=level, analysis=None, exports=())
    result = analyze_video(moving_clip, tmp_path, options)
    doc = json.loads(result.keypoints_path.read_text())
    assert result.metrics["smoothing"] == level
    assert doc["smoothing"]["level"] == level
    found = [frame for frame in doc["frames"] if frame["detected"]]
    assert len(found) >= 20
    if level == "none":
        assert "sigma_s" not in doc["smoothing"]
        assert all("smoothed_landmarks" not in frame for frame in doc["frames"])
        return
    assert doc["smoothing"]["sigma_s"] == SIGMA_S[level]
    model = [np.array([[p["x"], p["y"], p["z"]] for p in f["landmarks"]]) for f in found]
    steady = [np.array([[p["x"], p["y"], p["z"]] for p in f["smoothed_landmarks"]]) for f in found]
    assert all(len(points) == 33 for points in steady)

    def jitter(track) -> float:
        return float(np.abs(np.diff(np.array(track)[:, :, :2], n=2, axis=0)).mean())

    assert jitter(steady) < jitter(model)
    assert all("smoothed_landmarks" not in f for f in doc["frames"] if not f["detected"])

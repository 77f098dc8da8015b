"""comparison.mp4, the side-by-side video, read back frame by frame.

The inputs are flat grey frames whose level tells their index (24 + 6 i, which H.264 and the
scaling keep to within a level or two), so every output frame shows which input frame each
side holds. The reference (320x240, 30 fps) starts at 0.1 s on its container clock and has
clicks in its soundtrack at known times; the attempt (240x320) changes from 25 to 20 fps
halfway: a variable frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.compare import video
from pipeline.compare.video import Moment, SideBySide, render_side_by_side

REFERENCE_TIMES = [round(0.1 + i / 30, 3) for i in range(36)]
ATTEMPT_TIMES = [round(i * 0.04, 3) for i in range(15)]  # 25 fps
ATTEMPT_TIMES += [round(0.6 + i * 0.05, 3) for i in range(15)]  # then 20 fps
CLICKS_S = (0.3, 0.6, 0.9, 1.2)  # on the reference's container clock
AUDIO_RATE = 44100
FPS = 24.0
MOMENTS = (
    Moment(0.0, 0.3, "perfect", 97.2),
    Moment(0.3, 0.6, "good", 81.0),
    Moment(0.6, 0.9, "ok", 60.0),
    Moment(0.9, 1.1, "miss", 12.0),
    Moment(1.1, 1.3, None, None),
)


def level(index: int) -> int:
    return 24 + 6 * index


def write_clip(
    path: Path,
    width: int,
    height: int,
    times: list[float],
    *,
    clicks=(),
    pix_fmt="yuv420p",
    colour: tuple[int, int, int] | None = None,
) -> Path:
    """Flat grey frames at `times` (s, in ms), frame i at `level(i)`, or all in `colour`;
    with `clicks`, an AAC track of 1 kHz bursts (20 ms) starting at those times."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=AUDIO_RATE) if clicks else None
        for i, time_s in enumerate(times):
            rgb = np.full((height, width, 3), colour or level(i), np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = round(time_s * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            t = np.arange(int((times[-1] + 0.1) * AUDIO_RATE)) / AUDIO_RATE
            samples = np.zeros(len(t), np.float32)
            for click in clicks:
                burst = (t >= click) & (t < click + 0.02)
                samples[burst] = 0.8 * np.sin(2 * np.pi * 1000 * t[burst])
            for start in range(0, len(t), 1024):
                chunk = np.ascontiguousarray(samples[None, start : start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = AUDIO_RATE, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    reference = write_clip(folder / "reference.mp4", 320, 240, REFERENCE_TIMES, clicks=CLICKS_S)
    attempt = write_clip(folder / "attempt.mp4", 240, 320, ATTEMPT_TIMES)
    return reference, attempt


def warped_plan() -> SideBySide:
    """30 frames at 24 fps from before the reference's first frame; the attempt at 0.9x, no
    match for four frames, then at 1.3x and on past its last frame."""
    reference = 0.013 + np.arange(30) / FPS
    attempt = np.where(reference < 0.5, 0.9 * reference, 0.5 + 1.3 * (reference - 0.5))
    attempt[10:14] = np.nan
    return SideBySide(reference, attempt, FPS, MOMENTS, "score 87.3 · pose 91")


@dataclass
class Rendered:
    path: Path
    plan: SideBySide
    result: dict
    frames: list[np.ndarray]


@pytest.fixture(scope="module")
def rendered(clips, tmp_path_factory) -> Rendered:
    """The warped plan rendered with the defaults, and its frames decoded."""
    plan = warped_plan()
    path = tmp_path_factory.mktemp("rendered") / "comparison.mp4"
    result = render_side_by_side(*clips, path, plan)
    return Rendered(path, plan, result, decode(path))


def expected_index(frame_times: list[float], time_s: float) -> int:
    """The frame a time asks for: the latest at or before it plus half the interval around it
    (a tie: the later one); before the first frame, the first."""
    i = int(np.searchsorted(frame_times, time_s, side="right")) - 1
    if i < 0:
        return 0
    if i + 1 < len(frame_times) and time_s >= (frame_times[i] + frame_times[i + 1]) / 2:
        return i + 1
    return i


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def sound_of(path: Path) -> np.ndarray:
    """The output's soundtrack, decoded, mono; it must start at output time 0."""
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        frames = list(container.decode(audio=0))
    assert frames[0].time == pytest.approx(0, abs=1e-3)
    assert frames[0].sample_rate == AUDIO_RATE
    return np.concatenate([frame.to_ndarray().mean(axis=0) for frame in frames])


def click_onsets(samples: np.ndarray, after_s: float = 0.0) -> np.ndarray:
    """The times (s) where the clicks start, from `after_s` on."""
    loud = np.flatnonzero(np.abs(samples[round(after_s * AUDIO_RATE) :]) > 0.3)
    return after_s + loud[np.insert(np.diff(loud) > AUDIO_RATE // 20, 0, True)] / AUDIO_RATE


def layout_of(plan: SideBySide) -> video._Layout:
    """The output's geometry: the pictures are 480x360 (reference) and 270x360 (attempt)."""
    return video._layout((480, 360), (270, 360), 360, bool(plan.title))


def patch(rgb: np.ndarray, x: int, y: int, side: int = 8) -> np.ndarray:
    """The mean colour of a square around (x, y)."""
    return rgb[y - side : y + side, x - side : x + side].reshape(-1, 3).mean(axis=0)


def shown_index(colour: np.ndarray) -> int:
    """The input frame a flat grey patch shows; fails when it is not one of the levels."""
    index = round((float(colour.mean()) - level(0)) / 6)
    assert np.abs(colour - level(index)).max() <= 2.5, colour
    return index


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        offset += size if size else len(data)
    return boxes


def test_every_frame_shows_each_side_at_its_planned_time(rendered):
    plan = rendered.plan
    lay = layout_of(plan)
    assert rendered.result == {
        "frames": 30,
        "width": lay.width,
        "height": lay.height,
        "fps": FPS,
        "duration_s": 1.25,
        "audio": True,
    }
    frames = rendered.frames
    assert len(frames) == 30
    ref_x, att_x = lay.reference_x + lay.reference_w // 2, lay.attempt_x + lay.attempt_w // 2
    y = lay.picture_y + lay.picture_h // 4  # above the "no match" text, clear of captions
    for k, rgb in enumerate(frames):
        assert rgb.shape == (lay.height, lay.width, 3)
        wanted = expected_index(REFERENCE_TIMES, plan.reference_times[k])
        assert shown_index(patch(rgb, ref_x, y)) == wanted, k
        if np.isnan(plan.attempt_times[k]):
            assert np.abs(patch(rgb, att_x, y) - video._NO_MATCH).max() <= 3, k
        else:
            wanted = expected_index(ATTEMPT_TIMES, plan.attempt_times[k])
            assert shown_index(patch(rgb, att_x, y)) == wanted, k
    # the plan asks for times before the reference's first frame and past the attempt's last
    reference_shown = [expected_index(REFERENCE_TIMES, t) for t in plan.reference_times]
    assert reference_shown[0] == 0 and plan.reference_times[0] < REFERENCE_TIMES[0]
    assert expected_index(ATTEMPT_TIMES, plan.attempt_times[-1]) == len(ATTEMPT_TIMES) - 1


def test_a_time_on_a_frame_shows_that_frame(clips, tmp_path):
    reference = np.array(REFERENCE_TIMES[5:25])
    attempt = np.array(ATTEMPT_TIMES[5:25])
    plan = SideBySide(reference, attempt, 30.0, ())
    out = tmp_path / "on_frames.mp4"
    render_side_by_side(*clips, out, plan, audio=False)
    lay = layout_of(plan)
    y = lay.picture_y + lay.picture_h // 2
    for k, rgb in enumerate(decode(out)):
        assert shown_index(patch(rgb, lay.reference_x + 100, y)) == 5 + k
        assert shown_index(patch(rgb, lay.attempt_x + 100, y)) == 5 + k


def test_an_input_in_another_pixel_format_is_shown_too(clips, tmp_path):
    full_chroma = write_clip(tmp_path / "444.mp4", 320, 240, REFERENCE_TIMES, pix_fmt="yuv444p")
    plan = SideBySide(np.array(REFERENCE_TIMES[:10]), np.array(ATTEMPT_TIMES[:10]), 30.0, ())
    out = tmp_path / "444_side_by_side.mp4"
    render_side_by_side(full_chroma, clips[1], out, plan, audio=False)
    lay = layout_of(plan)
    y = lay.picture_y + lay.picture_h // 2
    for k, rgb in enumerate(decode(out)):
        assert shown_index(patch(rgb, lay.reference_x + 100, y)) == k


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_colours_come_through(pix_fmt, tmp_path):
    orange, teal = (220, 120, 40), (30, 150, 160)
    times = REFERENCE_TIMES[:5]
    reference = write_clip(tmp_path / "orange.mp4", 320, 240, times, colour=orange)
    attempt = write_clip(tmp_path / "teal.mp4", 240, 320, times, pix_fmt=pix_fmt, colour=teal)
    plan = SideBySide(np.array(times), np.array(times), 30.0, ())
    out = tmp_path / "colours.mp4"
    render_side_by_side(reference, attempt, out, plan, audio=False)
    lay = layout_of(plan)
    rgb = decode(out)[2]
    y = lay.picture_y + lay.picture_h // 2
    assert np.abs(patch(rgb, lay.reference_x + 100, y) - orange).max() <= 6
    assert np.abs(patch(rgb, lay.attempt_x + 100, y) - teal).max() <= 6


def test_the_file_is_h264_yuv420p_in_faststart_mp4_at_the_plan_rate(rendered):
    with av.open(str(rendered.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.width % 2 == 0 and stream.height % 2 == 0
        assert stream.average_rate == 24
        times = [frame.time for frame in container.decode(video=0)]
    assert times == pytest.approx(np.arange(30) / FPS, abs=1e-3)
    boxes = top_level_boxes(rendered.path)
    assert boxes.index("moov") < boxes.index("mdat")


def test_the_same_plan_gives_the_same_bytes(clips, rendered, tmp_path):
    again = tmp_path / "again.mp4"
    render_side_by_side(*clips, again, warped_plan())
    assert again.read_bytes() == rendered.path.read_bytes()


def test_the_soundtrack_is_the_references_from_the_first_shown_time(rendered):
    samples = sound_of(rendered.path)
    assert len(samples) / AUDIO_RATE == pytest.approx(30 / FPS, abs=0.05)
    # each click where the reference has it, less the first shown time
    expected = [click - rendered.plan.reference_times[0] for click in CLICKS_S]
    assert click_onsets(samples) == pytest.approx(expected, abs=0.005)


def test_the_soundtrack_keeps_its_place_and_lasts_as_long_as_the_video(clips, tmp_path):
    """From before the reference's sound starts (silence first), at half speed, so the
    sound runs out before the pictures (silence last)."""
    reference = -0.1 + np.arange(96) / (2 * FPS)
    plan = SideBySide(reference, reference, FPS, ())
    out = tmp_path / "slow.mp4"
    render_side_by_side(clips[0], clips[0], out, plan)
    samples = sound_of(out)
    assert len(samples) / AUDIO_RATE == pytest.approx(96 / FPS, abs=0.05)
    assert click_onsets(samples) == pytest.approx([c + 0.1 for c in CLICKS_S], abs=0.005)


def test_broken_audio_packets_are_skipped_and_the_rest_stays_in_place(clips, tmp_path):
    with av.open(str(clips[0])) as container:
        packets = [(p.pos, p.size) for p in container.demux(audio=0) if p.size]
    data = bytearray(clips[0].read_bytes())
    noise = np.random.default_rng(1)
    for position, size in packets[5:30:3]:  # garbage over every third packet, 0.12-0.67 s
        data[position : position + size] = noise.integers(0, 256, size, np.uint8).tobytes()
    broken = tmp_path / "broken_audio.mp4"
    broken.write_bytes(data)
    plan = warped_plan()
    out = tmp_path / "comparison.mp4"
    assert render_side_by_side(broken, clips[1], out, plan)["audio"]
    samples = sound_of(out)
    assert len(samples) / AUDIO_RATE == pytest.approx(30 / FPS, abs=0.05)
    expected = [click - plan.reference_times[0] for click in CLICKS_S[2:]]
    assert click_onsets(samples, after_s=0.8) == pytest.approx(expected, abs=0.005)


def test_no_soundtrack_when_asked_for_none_or_the_reference_is_silent(clips, tmp_path):
    reference, attempt = clips
    plan = warped_plan()
    muted = render_side_by_side(reference, attempt, tmp_path / "muted.mp4", plan, audio=False)
    silent = render_side_by_side(attempt, reference, tmp_path / "silent.mp4", plan)
    assert not muted["audio"] and not silent["audio"]
    for name in ("muted.mp4", "silent.mp4"):
        with av.open(str(tmp_path / name)) as container:
            assert not container.streams.audio
            assert len(container.streams.video) == 1


def test_the_judgement_colours_read_at_a_glance():
    colours = {name: np.array(rgb, int) for name, rgb in video.JUDGEMENT_COLOURS.items()}
    perfect, good, ok, miss, grey = (colours[n] for n in ("perfect", "good", "ok", "miss", None))
    assert perfect[1] > 1.5 * max(perfect[0], perfect[2])  # green
    assert good[1] > good[2] + 80 and good[0] > perfect[0] + 60  # a lighter, yellower green
    assert ok[0] > ok[1] > ok[2] + 80 and ok[0] > 200  # amber
    assert miss[0] > 2.5 * max(miss[1], miss[2])  # red
    assert np.ptp(grey) <= 12  # grey


def test_the_strip_colours_each_moment_by_its_judgement(rendered):
    plan, frames = rendered.plan, rendered.frames
    lay = layout_of(plan)
    start, end = plan.reference_times[0], plan.reference_times[-1]
    y = (lay.bar_y0 + lay.bar_y1) // 2
    for moment in MOMENTS:
        middle = (max(moment.start_s, start) + min(moment.end_s, end)) / 2
        x = round(lay.bar_x0 + (middle - start) / (end - start) * (lay.bar_x1 - lay.bar_x0))
        # the last frame: its cursor is at the bar's right end, away from every middle
        colour = patch(frames[-1], x, y, side=2)
        assert np.abs(colour - video.JUDGEMENT_COLOURS[moment.judgement]).max() <= 12, moment
    # the judgement under the cursor is written in its colour beside the bar
    for k, judgement in ((0, "perfect"), (15, "ok"), (24, "miss")):
        label = frames[k][lay.strip_y :, : lay.label_w].reshape(-1, 3).astype(int)
        near = np.abs(label - video.JUDGEMENT_COLOURS[judgement]).max(axis=1) <= 30
        assert near.sum() >= 40, (k, judgement)


def test_a_missing_input_is_file_not_found(clips, tmp_path):
    with pytest.raises(FileNotFoundError):
        render_side_by_side(tmp_path / "nope.mp4", clips[1], tmp_path / "out.mp4", warped_plan())
    with pytest.raises(FileNotFoundError):
        render_side_by_side(clips[0], tmp_path / "nope.mp4", tmp_path / "out.mp4", warped_plan())
    assert not (tmp_path / "out.mp4").exists()


def test_a_file_that_is_no_video_is_a_value_error(clips, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    with pytest.raises(ValueError, match="not a video"):
        render_side_by_side(clips[0], text, tmp_path / "out.mp4", warped_plan())
    sound_only = tmp_path / "sound.mp4"
    with av.open(str(sound_only), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=AUDIO_RATE)
        silence = np.zeros((1, 1024), np.float32)
        frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(ValueError, match="no video stream"):
        render_side_by_side(sound_only, clips[1], tmp_path / "out.mp4", warped_plan())
    assert not (tmp_path / "out.mp4").exists()


def test_an_empty_or_inconsistent_plan_is_a_value_error(clips, tmp_path):
    empty = SideBySide(np.array([]), np.array([]), FPS, ())
    with pytest.raises(ValueError, match="empty"):
        render_side_by_side(*clips, tmp_path / "out.mp4", empty)
    backwards = SideBySide(np.array([0.5, 0.4]), np.array([0.1, 0.2]), FPS, ())
    with pytest.raises(ValueError, match="non-decreasing"):
        render_side_by_side(*clips, tmp_path / "out.mp4", backwards)
    assert not (tmp_path / "out.mp4").exists()

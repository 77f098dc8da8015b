"""A small hostile file cannot cost much: it is refused from its headers before any frame is
decoded, or while decoding as soon as it turns out bigger, longer or faster than its header said.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.hostile_clips import black_clip, giant_frame_clip
from pipeline.errors import (
    ERROR_CODES,
    DimensionsOutOfRange,
    FrameRateTooHigh,
    TooManyFrames,
)
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.source import DecodeStats, Limits, open_video
from tests.clips import make_clip

MiB = 1024 * 1024


def peak_memory() -> int:
    """This process's resident-memory high-water mark (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pytest.skip("needs Linux's /proc/self/status")


def decode_all(source) -> DecodeStats:
    stats = DecodeStats()
    with source:
        for _ in source.items(stats):
            pass
    return stats


def test_the_new_codes_are_part_of_the_api():
    assert ERROR_CODES["too_many_frames"] is TooManyFrames
    assert ERROR_CODES["frame_rate_too_high"] is FrameRateTooHigh


def test_a_giant_frame_is_refused_without_its_memory(tmp_path):
    path = giant_frame_clip(tmp_path / "giant.mp4")
    assert path.stat().st_size < 2 * MiB
    before, started = peak_memory(), time.perf_counter()
    with pytest.raises(DimensionsOutOfRange) as err:
        open_video(path)
    seconds, growth = time.perf_counter() - started, peak_memory() - before
    assert err.value.code == "dimensions_out_of_range"
    assert "16000x16000" in err.value.message
    assert growth < 100 * MiB, f"the peak memory grew by {growth / MiB:.0f} MiB"
    assert seconds < 5


def test_a_high_frame_rate_is_refused_from_the_header(tmp_path):
    clip = black_clip(tmp_path / "fast.mp4", fps=240, frames=240 * 60)  # 14400 frames, 60 s
    assert (tmp_path / "fast.mp4").stat().st_size < 400_000  # ~200 KB: cheap to upload
    started = time.perf_counter()
    with pytest.raises(FrameRateTooHigh) as err:
        open_video(clip)
    assert time.perf_counter() - started < 5
    assert err.value.code == "frame_rate_too_high"
    assert "240" in err.value.message and "120" in err.value.message


@pytest.mark.parametrize(
    ("name", "container_format"),
    [
        ("declared.mp4", "mp4"),  # the header declares its frame count
        ("estimated.mkv", "matroska"),  # no count: duration x frame rate
    ],
)
def test_too_many_frames_are_refused_from_the_header(tmp_path, name, container_format):
    clip = make_clip(
        tmp_path / name,
        container_format=container_format,
        person=None,
        width=64,
        height=64,
        frames=30,
        fps=15,
    )
    with pytest.raises(TooManyFrames) as err:
        open_video(clip, Limits(max_frames=20))
    assert err.value.code == "too_many_frames"
    assert "30" in err.value.message and "20" in err.value.message


def test_too_many_frames_are_caught_while_decoding_when_the_header_is_silent(tmp_path):
    clip = make_clip(
        tmp_path / "raw.h264", container_format="h264", person=None, width=64, height=64, frames=30
    )
    source = open_video(clip, Limits(max_frames=20))  # nothing to check: no count, no duration
    assert (source.info.declared_frames, source.info.duration_s) == (0, None)
    stats = DecodeStats()
    with source, pytest.raises(TooManyFrames):
        for _ in source.items(stats):
            pass
    assert stats.decoded == 21


def test_timestamps_faster_than_the_header_rate_are_caught_while_decoding(tmp_path):
    times = [i * 0.005 for i in range(500)]  # 200 frames/s for 2.5 s ...
    clip = make_clip(
        tmp_path / "fast.mkv",
        container_format="matroska",
        person=None,
        width=64,
        height=64,
        frames=len(times),
        fps=15,
        frame_times=times,
    )
    source = open_video(clip)  # ... while the header says 15 frames/s
    assert source.info.fps == 15
    with pytest.raises(FrameRateTooHigh) as err:
        decode_all(source)
    assert "120" in err.value.message


def test_a_short_burst_above_the_frame_rate_limit_is_accepted(tmp_path):
    """Phones record variable frame rates; only the average over seconds counts."""
    times = (
        [i / 30 for i in range(30)]
        + [1 + i / 240 for i in range(120)]
        + [1.5 + i / 30 for i in range(30)]
    )
    clip = make_clip(
        tmp_path / "burst.mkv",
        container_format="matroska",
        person=None,
        width=64,
        height=64,
        frames=len(times),
        fps=30,
        frame_times=times,
    )
    assert decode_all(open_video(clip)).decoded == len(times)


def test_frames_bigger_than_the_header_said_are_caught_while_decoding(tmp_path):
    """Raw H.264 may change size mid-stream: the probe sees only the small start."""
    small = make_clip(
        tmp_path / "small.h264",
        container_format="h264",
        person=None,
        width=64,
        height=64,
        frames=30,
    )
    wide = make_clip(
        tmp_path / "wide.h264", container_format="h264", person=None, width=640, height=96, frames=5
    )
    clip = tmp_path / "both.h264"
    clip.write_bytes(Path(small).read_bytes() + Path(wide).read_bytes())
    source = open_video(clip, Limits(max_side=320))
    assert (source.info.width, source.info.height) == (64, 64)
    with pytest.raises(DimensionsOutOfRange) as err:
        decode_all(source)
    assert "640x96" in err.value.message


def test_analyze_video_reports_the_frame_rate_refusal_unchanged(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", person=None, width=64, height=64, frames=15, fps=15)
    with pytest.raises(FrameRateTooHigh) as err:
        analyze_video(clip, tmp_path / "out", PipelineOptions(limits=Limits(max_fps=10)))
    assert err.value.code == "frame_rate_too_high"
    assert err.value.message == "the video runs at 15 frames/s; the limit is 10"
    assert list((tmp_path / "out").iterdir()) == []

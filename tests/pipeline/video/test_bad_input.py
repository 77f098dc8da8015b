"""Bad input never crashes or hangs: each kind gets its stable error code and a clear message."""

from __future__ import annotations

import random

import av
import cv2
import numpy as np
import pytest

from pipeline.errors import (
    ERROR_CODES,
    CorruptVideo,
    DimensionsOutOfRange,
    EmptyFile,
    NotAVideo,
    NoVideoStream,
    TruncatedVideo,
    VideoInputError,
    VideoTooLong,
)
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.source import DecodeStats, Limits, open_video
from tests.clips import PERSON_PHOTO, make_clip, shared_file


def analyze(path, tmp_path, **limits):
    options = PipelineOptions(limits=Limits(**limits)) if limits else PipelineOptions()
    return analyze_video(path, tmp_path / "out", options)


def test_zero_bytes_is_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyFile) as err:
        analyze(tmp_path / "empty.mp4", tmp_path)
    assert err.value.code == "empty_file"


def test_text_named_mp4_is_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are my dance notes\n" * 50)
    with pytest.raises(NotAVideo) as err:
        analyze(tmp_path / "notes.mp4", tmp_path)
    assert err.value.code == "not_a_video"


def test_random_bytes_are_not_a_video(tmp_path):
    (tmp_path / "noise.mov").write_bytes(np.random.default_rng(1).bytes(100_000))
    with pytest.raises(NotAVideo):
        analyze(tmp_path / "noise.mov", tmp_path)


def test_a_still_image_is_not_a_video(tmp_path):
    cv2.imwrite(str(tmp_path / "person.png"), np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(NotAVideo) as err:
        analyze(tmp_path / "person.png", tmp_path)
    assert "still image" in err.value.message


@pytest.mark.shared_data
def test_the_shared_person_photo_is_not_a_video(tmp_path):
    with pytest.raises(NotAVideo):
        analyze(shared_file(PERSON_PHOTO), tmp_path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(NoVideoStream) as err:
        analyze(path, tmp_path)
    assert err.value.code == "no_video_stream"


def test_a_file_cut_in_half_is_truncated(tmp_path):
    clip = make_clip(tmp_path / "whole.mkv", container_format="matroska", frames=40)
    data = (tmp_path / "whole.mkv").read_bytes()
    (tmp_path / "half.mkv").write_bytes(data[: len(data) // 2])
    with av.open(clip) as c:  # the header still promises the whole length
        assert c.duration
    with pytest.raises(TruncatedVideo) as err:
        analyze(tmp_path / "half.mkv", tmp_path)
    assert err.value.code == "truncated_video"
    assert list((tmp_path / "out").iterdir()) == []  # no half-written outputs left behind


def test_an_mp4_cut_before_its_index_is_corrupt(tmp_path):
    make_clip(tmp_path / "whole.mp4", frames=40)  # no faststart: the index comes last
    data = (tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptVideo) as err:
        analyze(tmp_path / "cut.mp4", tmp_path)
    assert err.value.code == "corrupt_video"


def test_a_corrupt_frame_in_the_middle_is_skipped_and_counted(tmp_path):
    clip = make_clip(tmp_path / "clip.avi", codec="mpeg4", container_format="avi", frames=30)
    with av.open(clip) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[15]
    data = bytearray((tmp_path / "clip.avi").read_bytes())
    for i in range(pos + size // 4, pos + size - 4):
        data[i] = (data[i] * 7 + 13) & 0xFF
    (tmp_path / "damaged.avi").write_bytes(bytes(data))
    metrics = analyze(tmp_path / "damaged.avi", tmp_path).metrics
    assert metrics["failed_frames"] >= 1
    assert metrics["total_frames"] == 30
    assert metrics["processed_frames"] == 30 - metrics["failed_frames"]


def test_too_large_dimensions_are_refused_before_decoding(tmp_path):
    clip = make_clip(tmp_path / "wide.mp4", width=640, height=96, frames=3)
    with pytest.raises(DimensionsOutOfRange) as err:
        analyze(clip, tmp_path, max_side=320)
    assert err.value.code == "dimensions_out_of_range"
    assert "640x96" in err.value.message


def test_too_many_pixels_are_refused(tmp_path):
    clip = make_clip(tmp_path / "big.mp4", width=320, height=240, frames=3)
    with pytest.raises(DimensionsOutOfRange):
        analyze(clip, tmp_path, max_pixels=320 * 200)


def test_a_tiny_video_is_refused(tmp_path):
    clip = make_clip(tmp_path / "tiny.mp4", person=None, width=8, height=8, frames=3)
    with pytest.raises(DimensionsOutOfRange):
        analyze(clip, tmp_path)


def test_too_long_is_refused_with_the_limit_in_the_message(tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=45, fps=15)  # 3 s
    with pytest.raises(VideoTooLong) as err:
        analyze(clip, tmp_path, max_duration_s=2)
    assert err.value.code == "video_too_long"
    assert "2 s" in err.value.message


def test_a_header_that_understates_length_is_caught_while_decoding(tmp_path):
    clip = make_clip(tmp_path / "long.mkv", container_format="matroska", frames=45, fps=15)
    source = open_video(clip, Limits(max_duration_s=10))  # the header check passes ...
    source.limits = Limits(max_duration_s=2)  # ... as if the header had said less
    with source, pytest.raises(VideoTooLong):
        for _ in source.items(DecodeStats()):
            pass


@pytest.mark.parametrize("seed", range(24))
def test_random_damage_ends_in_a_result_or_a_coded_error(tmp_path, seed):
    """Truncations, flipped bytes, zeroed runs and spliced garbage: never a crash."""
    rng = random.Random(seed)
    fmt, codec, suffix = rng.choice(
        [
            ("mp4", "libx264", ".mp4"),
            ("matroska", "libvpx-vp9", ".mkv"),
            ("avi", "mpeg4", ".avi"),
            ("mov", "libx265", ".mov"),
        ]
    )
    clip = make_clip(
        tmp_path / f"clip{suffix}",
        container_format=fmt,
        codec=codec,
        frames=10,
        width=160,
        height=120,
        audio=fmt != "avi",
    )
    data = bytearray(open(clip, "rb").read())
    start = rng.randrange(len(data))
    damage = rng.choice(["truncate", "flip", "zero", "splice"])
    if damage == "truncate":
        data = data[:start]
    elif damage == "flip":
        for _ in range(rng.randint(1, 50)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif damage == "zero":
        data[start : start + 2000] = bytes(len(data[start : start + 2000]))
    else:
        data[start:start] = rng.randbytes(rng.randint(1, 500))
    (tmp_path / f"damaged{suffix}").write_bytes(bytes(data))
    try:
        metrics = analyze(tmp_path / f"damaged{suffix}", tmp_path).metrics
    except VideoInputError as exc:
        assert exc.code in ERROR_CODES and exc.message
    else:
        assert metrics["processed_frames"] >= 1

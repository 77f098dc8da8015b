"""A long video in segments (`pipeline/segments/cuts.py`, `stitch.py`): cut at keyframes,
each segment run alone with a warm-up, stitched without re-encoding. The result must be the
unsplit run's: same frames, timestamps, stream properties and sound, the same detections,
and no seam in the landmarks at the cuts."""

from __future__ import annotations

import json
import warnings

import av
import numpy as np
import pytest

from pipeline.errors import CorruptVideo
from pipeline.pose.keypoints import landmarks_array
from pipeline.pose.steady import smooth_rows, weights
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.segments.cuts import plan_segments
from pipeline.segments.stitch import concat_videos, stitch
from pipeline.video.samples import DUO
from tests.clips import STREET_VIDEO, make_clip, probe, shared_file

FPS = 15


def split_run(clip, folder, options: PipelineOptions, *, segment_s: float, min_s: float):
    plan = plan_segments(clip, segment_s=segment_s, min_s=min_s)
    dirs = []
    for segment in plan:
        dirs.append(folder / f"segment-{segment.index}")
        analyze_video(clip, dirs[-1], options, segment=segment)
    return plan, stitch(clip, dirs, folder / "stitched", options)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    clip = make_clip(
        folder / "in.mp4",
        frames=12 * FPS,
        fps=FPS,
        audio=True,
        beat_bpm=120,
        keyframe_every=2 * FPS,
    )
    whole = analyze_video(clip, folder / "whole")
    plan, stitched = split_run(clip, folder, PipelineOptions(), segment_s=4, min_s=6)
    return clip, whole, plan, stitched


def test_the_plan_cuts_at_keyframes_about_segment_s_apart(runs):
    _, _, plan, _ = runs
    assert [(s.start_s, s.end_s) for s in plan] == [(0.0, 4.0), (4.0, 8.0), (8.0, None)]
    assert [(s.first_frame, s.frames) for s in plan] == [(0, 60), (60, 60), (120, 60)]


def test_a_short_video_or_one_without_keyframes_is_one_segment(tmp_path):
    short = make_clip(tmp_path / "short.mp4", frames=30, fps=FPS, keyframe_every=5)
    assert len(plan_segments(short, segment_s=1, min_s=60)) == 1
    one_key = make_clip(tmp_path / "one.mp4", frames=90, fps=FPS, keyframe_every=1000)
    [whole] = plan_segments(one_key, segment_s=1, min_s=2)
    assert (whole.first_frame, whole.frames, whole.end_pts) == (0, 90, None)


def test_the_stitched_video_is_the_unsplit_one(runs):
    clip, whole, _, stitched = runs
    unsplit, joined = probe(whole.video_path), probe(stitched.video_path)
    assert joined == unsplit  # codec, pixel format, size, frame count, every time, sound
    assert joined["times"] == probe(clip)["times"]
    with av.open(str(whole.video_path)) as a, av.open(str(stitched.video_path)) as b:
        va, vb = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        assert (va.profile, va.extradata) == (vb.profile, vb.extradata)
        sound_a = [(p.pts, bytes(p)) for p in a.demux(a.streams.audio[0]) if p.size]
        sound_b = [(p.pts, bytes(p)) for p in b.demux(b.streams.audio[0]) if p.size]
        assert sound_a == sound_b  # the same audio packets, continuous
    with open(stitched.video_path, "rb") as fh:
        head = fh.read(64 * 1024)
    assert head.find(b"moov") < head.find(b"mdat")  # +faststart


def test_keypoints_and_metrics_are_the_unsplit_ones(runs):
    _, whole, _, stitched = runs
    a = json.loads(whole.keypoints_path.read_text())
    b = json.loads(stitched.keypoints_path.read_text())
    assert [f["frame"] for f in b["frames"]] == list(range(12 * FPS))
    assert [f["time_s"] for f in b["frames"]] == [f["time_s"] for f in a["frames"]]
    assert b["video"] == a["video"] and b["frame_count"] == a["frame_count"]
    for key in ("total_frames", "processed_frames", "failed_frames", "fps", "width", "height"):
        assert stitched.metrics[key] == whole.metrics[key], key
    assert abs(stitched.metrics["detection_rate"] - whole.metrics["detection_rate"]) <= 0.01
    assert stitched.metrics["segments"] == 3
    assert stitched.analysis is not None
    music = json.loads(stitched.analysis_path.read_text())["music"]
    assert music["tempo_bpm"] == pytest.approx(120, rel=0.02)


def test_the_smoothed_copy_is_filtered_across_the_cuts(runs):
    _, _, plan, stitched = runs
    doc = json.loads(stitched.keypoints_path.read_text())
    assert doc["smoothing"]["level"] == stitched.metrics["smoothing"] == "light"
    found = [None if not f["detected"] else landmarks_array(f["landmarks"]) for f in doc["frames"]]
    want = smooth_rows(found, weights(FPS, "light"), several=False)
    for frame, expected in zip(doc["frames"], want, strict=True):
        if expected is None:
            assert "smoothed_landmarks" not in frame
            continue
        got = landmarks_array(frame["smoothed_landmarks"])
        assert np.allclose(got[:, :3], expected[:, :3], atol=2e-5), frame["frame"]


def landmarks(path) -> np.ndarray:
    frames = json.loads(path.read_text())["frames"]
    out = np.full((len(frames), 33, 2), np.nan)
    for i, frame in enumerate(frames):
        if frame["landmarks"]:
            out[i] = [[p["x"], p["y"]] for p in frame["landmarks"]]
    return out


def motion(points: np.ndarray) -> np.ndarray:
    """Per frame, the mean distance the landmarks moved since the frame before (NaN where
    either frame has no pose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of frames without a pose
        return np.nanmean(np.linalg.norm(np.diff(points, axis=0), axis=2), axis=1)


def assert_no_seam(split: np.ndarray, unsplit: np.ndarray, cuts: list[int]) -> None:
    """At each cut, the landmarks' jump from the last frame of one segment to the first of
    the next differs from the unsplit run's motion there (the dancer's own) by no more than
    the median motion from one frame to the next."""
    split_motion, unsplit_motion = motion(split), motion(unsplit)
    median = float(np.nanmedian(unsplit_motion))
    for cut in cuts:
        assert np.isnan(split_motion[cut - 1]) == np.isnan(unsplit_motion[cut - 1]), cut
        added = abs(split_motion[cut - 1] - unsplit_motion[cut - 1])
        assert not added > median, (cut, split_motion[cut - 1], unsplit_motion[cut - 1], median)


@pytest.fixture(scope="module")
def street_cuts(tmp_path_factory):
    """The shared street footage (4 s at 50 fps) with a keyframe every half second, cut
    every second, mid-movement."""
    folder = tmp_path_factory.mktemp("street-cuts")
    clip = folder / "street.mp4"
    with av.open(str(shared_file(STREET_VIDEO))) as source, av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=50)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.codec_context.gop_size = 25
        stream.options = {"preset": "fast", "crf": "20", "sc_threshold": "0"}
        for i, frame in enumerate(source.decode(video=0)):
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            image.pts = i
            out.mux(stream.encode(image))
        out.mux(stream.encode(None))
    options = PipelineOptions(analysis=None)
    whole = analyze_video(clip, folder / "whole", options)
    plan, stitched = split_run(clip, folder, options, segment_s=1, min_s=2)
    return whole, plan, stitched


def test_no_seam_at_the_cuts_of_real_footage(street_cuts):
    whole, plan, stitched = street_cuts
    assert [segment.first_frame for segment in plan] == [0, 50, 100, 150]
    assert probe(stitched.video_path) == probe(whole.video_path)
    assert abs(stitched.metrics["detection_rate"] - whole.metrics["detection_rate"]) <= 0.01
    split, unsplit = landmarks(stitched.keypoints_path), landmarks(whole.keypoints_path)
    assert_no_seam(split, unsplit, [segment.first_frame for segment in plan[1:]])
    # after its warm-up the model follows as in the unsplit run: measured 0.0013 on average
    assert float(np.nanmean(np.linalg.norm(split - unsplit, axis=2))) < 0.005


def test_several_dancers_are_not_split(tmp_path):
    """Their ids are drawn into each segment's video: segments numbering their dancers apart
    could not be made to agree."""
    clip = make_clip(tmp_path / "duo.mp4", person=DUO, width=640, height=240, frames=30)
    [segment] = plan_segments(clip, segment_s=1, min_s=60)
    with pytest.raises(ValueError, match="several dancers"):
        analyze_video(clip, tmp_path / "out", PipelineOptions(max_people=2), segment=segment)


def test_segments_encoded_differently_are_not_joined(tmp_path):
    a = make_clip(tmp_path / "a.mp4", frames=4, width=320, height=240)
    b = make_clip(tmp_path / "b.mp4", frames=4, width=480, height=360)
    with pytest.raises(CorruptVideo):
        concat_videos([tmp_path / "a.mp4", tmp_path / "b.mp4"], None, tmp_path / "out.mp4")
    assert a and b


def test_a_minute_of_1080p_street_footage_split_in_two(tmp_path):
    """The issue's check, on real footage: 60 s of the shared street scene at 1080p."""
    from bench.bench_pipeline import CAMERA_LIKE, scaled_clip

    clip = scaled_clip(
        shared_file(STREET_VIDEO),
        tmp_path / "street.mp4",
        1920,
        1080,
        205,
        9,
        keyframe_every=30,
        preset="ultrafast",
        x264_params=CAMERA_LIKE,  # High profile, B-frames: 29 CPU-s to make, superfast 71
    )
    with av.open(str(clip)) as made:
        context = made.streams.video[0].codec_context
        assert (context.profile, context.has_b_frames) == ("High", True)  # as cameras write
    whole = analyze_video(clip, tmp_path / "whole", PipelineOptions(analysis=None))
    plan, stitched = split_run(
        clip, tmp_path, PipelineOptions(analysis=None), segment_s=30, min_s=60
    )
    assert len(plan) == 2 and plan[1].start_s == 30.0  # mid-movement: 80 frames into a loop
    unsplit, joined = probe(whole.video_path), probe(stitched.video_path)
    assert joined == unsplit
    assert joined["frames"] == 205 * 9
    assert abs(stitched.metrics["detection_rate"] - whole.metrics["detection_rate"]) <= 0.01
    split, unsplit = landmarks(stitched.keypoints_path), landmarks(whole.keypoints_path)
    assert_no_seam(split, unsplit, [plan[1].first_frame])

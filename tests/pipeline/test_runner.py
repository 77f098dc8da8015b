"""The pose-overlay pipeline on real footage: what comes out must be right and playable."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from pipeline.pose.blazepose import LANDMARK_NAMES
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.samples import render_frames
from tests.clips import STREET_VIDEO, make_clip, probe, shared_file

CONTRACT_METRICS = {
    "total_frames",
    "processed_frames",
    "detected_frames",
    "failed_frames",
    "detection_rate",
    "average_visibility",
    "fps",
    "width",
    "height",
    "duration_s",
    "processing_time_s",
}


@pytest.fixture(scope="module")
def astronaut_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("astronaut")
    clip = make_clip(
        folder / "in.mp4", person="astronaut", width=480, height=360, frames=30, fps=15, audio=True
    )
    return clip, analyze_video(clip, folder / "out")


def test_a_person_is_detected_in_nearly_every_frame(astronaut_run):
    _, result = astronaut_run
    assert result.metrics["detected_frames"] >= 28
    assert result.metrics["detection_rate"] >= 0.9
    assert 0.3 < result.metrics["average_visibility"] <= 1


def test_output_is_browser_playable_h264_with_the_input_frames(astronaut_run):
    clip, result = astronaut_run
    source, output = probe(clip), probe(result.video_path)
    assert (output["format"], output["codec"], output["pix_fmt"]) == (
        "mov,mp4,m4a,3gp,3g2,mj2",
        "h264",
        "yuv420p",
    )
    assert (output["width"], output["height"], output["frames"]) == (480, 360, 30)
    assert output["times"] == pytest.approx(source["times"], abs=1e-3)


def test_output_starts_with_its_index_so_browsers_stream_it(astronaut_run):
    _, result = astronaut_run
    head = result.video_path.read_bytes()
    assert 0 < head.find(b"moov") < head.find(b"mdat")


def test_audio_track_is_kept(astronaut_run):
    clip, result = astronaut_run
    source, output = probe(clip), probe(result.video_path)
    assert output["audio_codec"] == "aac"
    assert output["audio_duration_s"] == pytest.approx(source["audio_duration_s"], abs=0.1)


def test_keypoints_json_has_every_frame_with_33_landmarks(astronaut_run):
    _, result = astronaut_run
    doc = json.loads(result.keypoints_path.read_text())
    assert doc["schema_version"] == 3
    assert doc["landmark_names"] == list(LANDMARK_NAMES)
    assert doc["frame_count"] == len(doc["frames"]) == 30
    assert [f["frame"] for f in doc["frames"]] == list(range(30))
    for frame in doc["frames"]:
        assert isinstance(frame["time_s"], float)
        if frame["detected"]:
            assert len(frame["landmarks"]) == 33
            for point in frame["landmarks"]:
                assert set(point) == {"x", "y", "z", "visibility"}
                assert 0 <= point["visibility"] <= 1
        else:
            assert frame["landmarks"] is None


def test_summary_json_holds_the_contract_metrics_as_numbers(astronaut_run):
    _, result = astronaut_run
    summary = json.loads(result.summary_path.read_text())
    assert CONTRACT_METRICS <= set(summary)
    assert all(isinstance(summary[k], (int, float)) for k in CONTRACT_METRICS)
    assert summary == result.metrics
    assert (summary["total_frames"], summary["processed_frames"], summary["failed_frames"]) == (
        30,
        30,
        0,
    )
    assert summary["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert summary["movement"]["hip_travel_x"] > 0.1  # the clip moves the person sideways


def test_overlay_is_drawn_where_the_person_is(astronaut_run, tmp_path):
    clip, result = astronaut_run
    with av.open(str(clip)) as a, av.open(str(result.video_path)) as b:
        before = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        after = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    changed = np.abs(after - before).sum(axis=2) > 60
    doc = json.loads(result.keypoints_path.read_text())
    nose = doc["frames"][0]["landmarks"][0]
    y, x = int(nose["y"] * 360), int(nose["x"] * 480)
    assert changed[max(0, y - 8) : y + 8, max(0, x - 8) : x + 8].any()
    assert changed[:40, :240].any()  # the HUD
    assert changed.mean() < 0.2  # an overlay, not a different picture


def test_an_empty_scene_has_no_pose_in_any_frame(tmp_path):
    clip = make_clip(tmp_path / "empty.mp4", person=None, frames=20)
    result = analyze_video(clip, tmp_path / "out")
    assert result.metrics["detected_frames"] == 0
    assert result.metrics["detection_rate"] == 0
    doc = json.loads(result.keypoints_path.read_text())
    assert [f["detected"] for f in doc["frames"]] == [False] * 20
    assert probe(result.video_path)["frames"] == 20


def test_the_grayscale_camera_photo_person_is_detected(tmp_path):
    clip = make_clip(tmp_path / "camera.mp4", person="camera", frames=15)
    assert analyze_video(clip, tmp_path / "out").metrics["detection_rate"] >= 0.8


@pytest.mark.parametrize(
    ("name", "codec", "fmt", "pix_fmt"),
    [
        ("clip.mov", "libx264", "mov", "yuv420p"),
        ("clip.avi", "mpeg4", "avi", "yuv420p"),
        ("clip.webm", "libvpx-vp9", "webm", "yuv420p"),
        ("clip.mkv", "libx265", "matroska", "yuv420p"),
        ("clip.mp4", "libx265", "mp4", "yuv420p10le"),  # 10-bit HEVC, as recent phones record
    ],
)
def test_common_containers_and_codecs_are_read(tmp_path, name, codec, fmt, pix_fmt):
    clip = make_clip(
        tmp_path / name,
        codec=codec,
        container_format=fmt,
        pix_fmt=pix_fmt,
        frames=12,
        width=320,
        height=240,
    )
    result = analyze_video(clip, tmp_path / "out")
    output = probe(result.video_path)
    assert (output["codec"], output["frames"], output["width"], output["height"]) == (
        "h264",
        12,
        320,
        240,
    )
    assert result.metrics["detected_frames"] >= 10


def test_a_portrait_phone_video_comes_out_upright(tmp_path):
    clip = make_clip(tmp_path / "phone.mp4", width=240, height=320, frames=8, rotation=90)
    assert (probe(clip)["width"], probe(clip)["height"]) == (320, 240)  # stored sideways
    result = analyze_video(clip, tmp_path / "out")
    output = probe(result.video_path)
    assert (output["width"], output["height"]) == (240, 320)
    with av.open(str(result.video_path)) as out:
        last = list(out.decode(video=0))[-1].to_ndarray(format="rgb24").astype(int)
    upright = list(render_frames("astronaut", width=240, height=320, frames=8))[-1].astype(int)
    below_hud = slice(60, None)
    error_upright = np.abs(last[below_hud] - upright[below_hud]).mean()
    error_turned = np.abs(last[below_hud] - np.rot90(upright, 2)[below_hud]).mean()
    assert error_upright < error_turned / 2
    assert result.metrics["detection_rate"] >= 0.8


@pytest.mark.parametrize("rotation", [180, 270])
def test_other_rotations_are_honoured(tmp_path, rotation):
    clip = make_clip(tmp_path / "phone.mp4", width=240, height=320, frames=4, rotation=rotation)
    output = probe(analyze_video(clip, tmp_path / "out").video_path)
    assert (output["width"], output["height"]) == (240, 320)


def test_variable_frame_rate_keeps_every_frame_at_its_time(tmp_path):
    times = [0.0, 0.04, 0.1, 0.12, 0.2, 0.35, 0.4, 0.41, 0.5, 0.7]
    clip = make_clip(
        tmp_path / "vfr.mkv", container_format="matroska", frames=len(times), frame_times=times
    )
    result = analyze_video(clip, tmp_path / "out")
    output = probe(result.video_path)
    assert output["frames"] == len(times)
    assert output["times"] == pytest.approx(times, abs=0.002)
    doc = json.loads(result.keypoints_path.read_text())
    assert [f["time_s"] for f in doc["frames"]] == pytest.approx(times, abs=0.002)


def test_audio_that_mp4_players_dislike_is_converted_to_aac(tmp_path):
    clip = tmp_path / "opus.webm"
    make_clip(clip, codec="libvpx-vp9", container_format="webm", frames=15, audio=False)
    _add_audio(clip, tmp_path / "with_opus.webm", codec="libopus", rate=48000)
    output = probe(analyze_video(tmp_path / "with_opus.webm", tmp_path / "out").video_path)
    assert output["audio_codec"] == "aac"
    assert output["audio_duration_s"] == pytest.approx(1.0, abs=0.15)


def test_odd_dimensions_lose_one_pixel_for_yuv420p(tmp_path):
    clip = make_clip(
        tmp_path / "odd.mkv",
        container_format="matroska",
        codec="libx264",
        pix_fmt="yuv444p",
        width=321,
        height=241,
        frames=5,
    )
    result = analyze_video(clip, tmp_path / "out")
    output = probe(result.video_path)
    assert (output["width"], output["height"], output["frames"]) == (320, 240, 5)


def test_progress_is_reported_up_to_the_last_frame(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10)
    seen = []
    analyze_video(
        clip,
        tmp_path / "out",
        PipelineOptions(),
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert [d for d, _ in seen] == list(range(1, 11))
    assert seen[-1] == (10, 10)


@pytest.mark.shared_data
def test_the_street_video_people_are_detected_and_audio_kept(tmp_path):
    video = shared_file(STREET_VIDEO)
    result = analyze_video(video, tmp_path / "out")
    output = probe(result.video_path)
    assert (output["codec"], output["width"], output["height"], output["frames"]) == (
        "h264",
        1280,
        720,
        205,
    )
    assert output["audio_codec"] == "aac"
    assert result.metrics["total_frames"] == 205
    assert result.metrics["fps"] == 50
    assert result.metrics["detection_rate"] >= 0.9


def _add_audio(video, out_path, *, codec: str, rate: int) -> None:
    """Remux `video` and add a second of tone encoded with `codec`."""
    with av.open(str(video)) as src, av.open(str(out_path), "w", format="webm") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream(codec, rate=rate)
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
        samples = (0.2 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.float32)
        for start in range(0, rate, 960):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 960], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            out.mux(aout.encode(frame))
        out.mux(aout.encode(None))


def test_colours_survive_for_a_bt709_hd_source(tmp_path):
    """HD video is BT.709; the output says which matrix it used, so players show the same
    colours as the source (an untagged BT.601 output would shift them)."""
    path = tmp_path / "hd709.mp4"
    frames = list(
        render_frames("astronaut", width=320, height=240, frames=6, background=(200, 30, 60))
    )  # saturated: matrices differ most
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709"
            )
            frame.colorspace, frame.pts = 1, i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    result = analyze_video(path, tmp_path / "out")
    with av.open(str(path)) as a, av.open(str(result.video_path)) as b:
        source = list(a.decode(video=0))[-1].to_ndarray(format="rgb24").astype(int)
        output = list(b.decode(video=0))[-1].to_ndarray(format="rgb24").astype(int)
        tags = (
            b.streams.video[0].codec_context.colorspace,
            b.streams.video[0].codec_context.color_primaries,
        )
    doc = json.loads(result.keypoints_path.read_text())
    points = np.array([[p["x"], p["y"]] for p in doc["frames"][-1]["landmarks"]])
    x0, y0 = (points.min(axis=0) * (320, 240)).astype(int)
    x1, y1 = (points.max(axis=0) * (320, 240)).astype(int)
    untouched = np.ones((240, 320), bool)
    untouched[:40] = False  # HUD
    untouched[max(0, y0 - 12) : y1 + 12, max(0, x0 - 12) : x1 + 12] = False  # skeleton
    assert untouched.sum() > 5000
    error = np.abs(output - source)[untouched].mean(axis=0)
    assert error.max() < 4, error  # per channel, in 0..255, decoded as the tags say
    assert tags == (6, 1)  # BT.601 matrix (what OpenCV encodes), BT.709 primaries (the source)


def test_angles_csv_has_a_row_per_frame_and_analysis_json_its_sections(astronaut_run):
    _, result = astronaut_run
    rows = result.angles_path.read_text().splitlines()
    header = rows[0].split(",")
    assert header[:3] == ["frame", "time_s", "right_ankle"]
    assert "right_knee_raw" in header
    assert len(rows) == 1 + 30
    analysis = json.loads(result.analysis_path.read_text())
    assert set(analysis) >= {"angles", "symmetry", "movement", "music", "settings", "video"}
    assert analysis["music"]["available"] is False  # a steady tone has no beat
    assert analysis["music"]["reason"]
    assert result.analysis["ranges_of_motion"].keys() == set(analysis["angles"]["summary"]) & set(
        result.analysis["ranges_of_motion"]
    )
    assert result.metrics["analysis_time_s"] >= 0


def test_a_click_track_gives_the_music_tempo_and_beats(tmp_path):
    clip = make_clip(tmp_path / "beat.mp4", frames=60, fps=20, audio=True, beat_bpm=100)
    result = analyze_video(clip, tmp_path / "out")
    music = json.loads(result.analysis_path.read_text())["music"]
    assert music["available"] is True
    assert music["tempo_bpm"] == pytest.approx(100, rel=0.02)
    assert result.analysis["music"]["tempo_bpm"] == music["tempo_bpm"]


def test_angle_labels_are_drawn_only_when_asked(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=4, fps=15)
    plain = analyze_video(clip, tmp_path / "plain")
    labelled = analyze_video(clip, tmp_path / "labelled", PipelineOptions(angle_labels=True))

    def frames(path):
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]

    differences = [
        np.abs(a - b).sum()
        for a, b in zip(frames(plain.video_path), frames(labelled.video_path), strict=True)
    ]
    assert all(d > 0 for d in differences)
    assert plain.keypoints_path.read_text() == labelled.keypoints_path.read_text()

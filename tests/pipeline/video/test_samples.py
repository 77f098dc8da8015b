"""The footage tests are made of is the same every time: a tracking test on a clip that came
out a little different each run would pass or fail by chance."""

from __future__ import annotations

from bench import tracking_scenes as scenes
from pipeline.video.samples import make_clip, steady_encoding


def test_a_sample_clip_is_the_same_bytes_each_time(tmp_path):
    # 426 px wide, not a multiple of 16, and encoded again in the same process: where x264's
    # AVX-512 routines ran, the second and later encodings differed
    paths = [
        make_clip(tmp_path / f"{i}.mp4", frames=40, fps=30, width=426, height=240) for i in range(4)
    ]
    first = open(paths[0], "rb").read()
    assert all(open(path, "rb").read() == first for path in paths[1:])


def test_a_tracking_scene_is_the_same_bytes_and_truth_each_time(tmp_path):
    scene = scenes.crossing(frames=60)
    truths = [scene.write(tmp_path / f"{i}.mp4", scene.height) for i in range(4)]
    first = (tmp_path / "0.mp4").read_bytes()
    assert all((tmp_path / f"{i}.mp4").read_bytes() == first for i in (1, 2, 3))
    assert all(truth == truths[0] for truth in truths)


def test_steady_encoding_is_one_thread_and_only_x264_gets_its_routines_chosen():
    assert steady_encoding("mpeg4") == {"threads": "1"}
    options = steady_encoding("libx264")
    assert options["threads"] == "1"
    assert set(options) <= {"threads", "x264-params"}
    assert options.get("x264-params", "asm=AVX2") == "asm=AVX2"

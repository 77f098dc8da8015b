"""The Tasks API pose bundle built offline from the wheel (`pipeline/pose/bundle.py`):
the same bytes every time, cached, and a model that finds people."""

from __future__ import annotations

import os
import subprocess
import sys

import mediapipe as mp

from pipeline.pose.bundle import BUNDLE_SHA256, build, bundle_path
from pipeline.pose.models import sha256_of
from pipeline.video.samples import render_frames


def test_the_bundle_is_rebuilt_byte_for_byte(tmp_path):
    first, second = tmp_path / "a.task", tmp_path / "b.task"
    assert build(first) == build(second) == BUNDLE_SHA256["full"]
    assert first.read_bytes() == second.read_bytes()


def test_the_cached_bundle_is_reused_and_a_damaged_one_rebuilt(tmp_path):
    path = bundle_path(tmp_path)
    made = os.stat(path).st_mtime_ns
    assert bundle_path(tmp_path) == path and os.stat(path).st_mtime_ns == made
    path.write_bytes(path.read_bytes()[:1000])  # a partial copy
    assert sha256_of(bundle_path(tmp_path)) == BUNDLE_SHA256["full"]


def test_the_command_builds_it_where_asked(tmp_path):
    target = tmp_path / "models" / "pose.task"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.pose.bundle", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(target), BUNDLE_SHA256["full"]]


def test_the_tasks_pose_landmarker_loads_it_and_finds_the_dancer(tmp_path):
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(bundle_path(tmp_path))),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=4,
    )
    found = []
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        for i, rgb in enumerate(render_frames("astronaut", width=640, height=480, frames=20)):
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            result = landmarker.detect_for_video(image, i * 66)
            found.append(len(result.pose_landmarks))
    assert sum(count >= 1 for count in found) >= 18, found
    assert all(count <= 1 for count in found)  # one person in the picture: one pose
    assert len(result.pose_landmarks[0]) == 33

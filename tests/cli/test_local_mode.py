"""`dance-analyzer local`: the whole service on SQLite, a filesystem broker and an embedded
S3 endpoint, as real processes, processing a sample end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli.local_stack import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def test_local_mode_processes_a_sample_through_the_api_and_a_worker(tmp_path):
    home = tmp_path / "home"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "local",
            "--home",
            str(home),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=360,
    )
    logs = (
        "".join(p.read_text() for p in (home / "logs").glob("*.log"))
        if (home / "logs").exists()
        else ""
    )
    assert done.returncode == 0, done.stdout + done.stderr + logs[-4000:]
    assert '"status": "succeeded"' in done.stdout
    [results] = list((home / "results").iterdir())
    assert (results / "annotated.mp4").read_bytes()[4:8] == b"ftyp"
    assert json.loads((results / "keypoints.json").read_text())["frame_count"] == 60
    assert json.loads((results / "summary.json").read_text())["total_frames"] == 60
    music = json.loads((results / "analysis.json").read_text())["music"]
    assert music["tempo_bpm"] == pytest.approx(120, rel=0.02)  # the sample's click track
    assert (results / "angles.csv").read_text().startswith("frame,time_s,right_ankle")
    assert (home / "dance.db").exists()  # SQLite, migrated by `alembic upgrade head`

"""A job attempt's staged files (`worker/scratch.py`): made once, reused by later tries."""

from __future__ import annotations

import os
import time
import uuid

from pipeline.runner import ANNOTATED_VIDEO, KEYPOINTS_JSON, SUMMARY_JSON, PipelineResult
from worker.scratch import Scratch, prune


def fake_run(calls: list[str]):
    def run(out):
        calls.append("run")
        out.mkdir(parents=True, exist_ok=True)
        for name in (ANNOTATED_VIDEO, KEYPOINTS_JSON, SUMMARY_JSON):
            (out / name).write_text(name)
        return PipelineResult(
            out, metrics={"processed_frames": 3}, analysis={"movement_tempo_bpm": 120.0}
        )

    return run


def test_the_input_is_downloaded_once_per_attempt(tmp_path):
    job_id, calls = uuid.uuid4(), []

    def download(path):
        calls.append("download")
        path.write_bytes(b"video")

    first = Scratch(tmp_path, job_id, 1).input(".mp4", download)
    again = Scratch(tmp_path, job_id, 1).input(".mp4", download)
    other_attempt = Scratch(tmp_path, job_id, 2).input(".mp4", download)

    assert first == again and first.read_bytes() == b"video"
    assert other_attempt != first
    assert calls == ["download", "download"]


def test_a_download_cut_short_is_made_again(tmp_path):
    job_id = uuid.uuid4()

    def broken(path):
        path.write_bytes(b"vid")
        raise ConnectionError("cut")

    try:
        Scratch(tmp_path, job_id, 1).input(".mp4", broken)
    except ConnectionError:
        pass
    path = Scratch(tmp_path, job_id, 1).input(".mp4", lambda p: p.write_bytes(b"video"))

    assert path.read_bytes() == b"video"


def test_outputs_are_made_once_and_read_back_with_their_metrics_and_analysis(tmp_path):
    job_id, calls = uuid.uuid4(), []

    first = Scratch(tmp_path, job_id, 1).outputs(fake_run(calls))
    again = Scratch(tmp_path, job_id, 1).outputs(fake_run(calls))

    assert calls == ["run"]
    assert again.metrics == first.metrics == {"processed_frames": 3}
    assert again.analysis == first.analysis == {"movement_tempo_bpm": 120.0}
    assert again.video_path.read_text() == ANNOTATED_VIDEO


def test_remove_and_prune(tmp_path):
    kept, old = uuid.uuid4(), uuid.uuid4()
    Scratch(tmp_path, kept, 1).outputs(fake_run([]))
    old_scratch = Scratch(tmp_path, old, 1)
    stale = time.time() - 7200
    os.utime(old_scratch.job_dir, (stale, stale))

    assert prune(tmp_path, older_than_s=3600) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [str(kept)]
    Scratch(tmp_path, kept, 1).remove()
    assert list(tmp_path.iterdir()) == []

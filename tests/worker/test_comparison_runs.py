"""One comparison as a worker runs it (`worker/comparison_runs.py`), in-process on the real Postgres
and the moto S3 server: what it fetches of each job, what it stores, what it records, and how
it fails. The whole service (API, queue, webhooks) is `tests/e2e/test_analysis.py`."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from pipeline.compare import comparison_summary
from pipeline.runner import PipelineOptions, analyze_video
from shared.models import Comparison, Job
from shared.outputs import COMPARISON_REPORT, COMPARISON_VIDEO
from shared.storage_keys import comparison_output_key, output_keys
from shared.tenants import default_tenant
from tests.clips import make_clip
from worker.comparison_runs import run_comparison
from worker.jobs import Outcome

pytestmark = pytest.mark.services

ALL_FILES = ("keypoints", "analysis", "video")


@pytest.fixture(scope="module")
def performance(tmp_path_factory) -> Path:
    """An `analyze` output folder of four seconds of a dancer to a 120 BPM click track."""
    folder = tmp_path_factory.mktemp("performance")
    clip = make_clip(folder / "beat.mp4", frames=60, fps=15, audio=True, beat_bpm=120)
    analyze_video(clip, folder / "out", PipelineOptions(exports=()))
    return folder / "out"


def stored_job(db, storage, folder: Path, files: tuple[str, ...] = ALL_FILES) -> uuid.UUID:
    """A succeeded job whose outputs in the bucket are `files` of `folder` (a job from before
    the analysis has no analysis.json)."""
    job_id = uuid.uuid4()
    keys = output_keys(job_id)
    names = {"keypoints": "keypoints.json", "analysis": "analysis.json", "video": "annotated.mp4"}
    stored = {}
    for name in files:
        stored[name] = keys[name]
        storage.upload_file(folder / names[name], keys[name], "application/octet-stream")
    with db() as session:
        session.add(
            Job(
                id=job_id,
                tenant_id=default_tenant(session).id,
                status="succeeded",
                input_key=f"inputs/{job_id}/source.mp4",
                options={},
                output_keys=stored,
            )
        )
    return job_id


def queued(db, reference: uuid.UUID, attempt: uuid.UUID | None = None, **fields) -> uuid.UUID:
    comparison_id = uuid.uuid4()
    values = {"mirror_mode": "auto", "video": True, "status": "queued", "attempts": 0} | fields
    with db() as session:
        session.add(
            Comparison(
                id=comparison_id,
                tenant_id=default_tenant(session).id,
                reference_job_id=reference,
                attempt_job_id=attempt or reference,
                **values,
            )
        )
    return comparison_id


def row(db, comparison_id: uuid.UUID) -> Comparison:
    with db() as session:
        comparison = session.get_one(Comparison, comparison_id)
        session.expunge(comparison)
    return comparison


def stored_json(storage, key: str) -> dict:
    return json.loads(storage.client.get_object(Bucket=storage.bucket, Key=key)["Body"].read())


def content_type(storage, key: str) -> str:
    return storage.client.head_object(Bucket=storage.bucket, Key=key)["ContentType"]


def test_two_jobs_give_a_report_a_video_and_the_summary_on_the_row(db, storage, performance):
    reference = stored_job(db, storage, performance)
    attempt = stored_job(db, storage, performance)
    comparison_id = queued(db, reference, attempt)

    assert run_comparison(comparison_id, storage) == Outcome("succeeded")  # no webhook URL

    done = row(db, comparison_id)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert done.report_key == comparison_output_key(comparison_id, COMPARISON_REPORT)
    assert done.video_key == comparison_output_key(comparison_id, COMPARISON_VIDEO)
    report = stored_json(storage, done.report_key)
    assert report["schema_version"] == 2 and report["path"]["reference_time_s"]
    assert done.summary == comparison_summary(report)
    assert done.summary["music"]["aligned"] is True  # the beats and soundtracks were there
    assert done.summary["video"]["frames"] > 0 and done.summary["video"]["audio"] is True
    assert content_type(storage, done.report_key) == "application/json"
    assert content_type(storage, done.video_key) == "video/mp4"
    # finished: a second delivery of the task changes nothing
    assert run_comparison(comparison_id, storage) == Outcome("skipped")
    assert row(db, comparison_id).attempts == 1


def test_jobs_from_before_the_analysis_compare_without_music_or_video(db, storage, performance):
    old = stored_job(db, storage, performance, files=("keypoints",))
    comparison_id = queued(db, old, webhook_url="https://hooks.example.com/x")

    assert run_comparison(comparison_id, storage) == Outcome("succeeded", "comparison.succeeded")

    done = row(db, comparison_id)
    assert done.video_key is None and done.summary["video"] is None
    assert done.summary["score"] == 100  # itself, as filmed
    assert done.summary["music"]["aligned"] is False
    assert "timing_without_music" in {warning["code"] for warning in done.summary["warnings"]}
    assert [key for key, _ in storage.objects_under("comparisons/")] == [done.report_key]


def test_an_optional_file_no_longer_stored_is_left_out(db, storage, performance):
    job = stored_job(db, storage, performance)
    storage.delete_keys([output_keys(job)["video"]])
    comparison_id = queued(db, job, mirror_mode="on", video=True)

    assert run_comparison(comparison_id, storage).status == "succeeded"

    done = row(db, comparison_id)
    assert done.video_key is None and done.summary["video"] is None
    assert done.summary["mirror_decision"]["mode"] == "on" and done.summary["mirror"] is True


def test_no_video_is_made_unless_asked(db, storage, performance):
    job = stored_job(db, storage, performance)
    comparison_id = queued(db, job, mirror_mode="off", video=False)

    assert run_comparison(comparison_id, storage).status == "succeeded"

    done = row(db, comparison_id)
    assert done.video_key is None and done.summary["video"] is None
    assert done.summary["mirror_decision"] == {"mode": "off", "mirrored": False}
    assert done.summary["music"]["aligned"] is True


def test_keypoints_no_longer_stored_fail_input_missing(db, storage, performance):
    reference = stored_job(db, storage, performance)
    attempt = stored_job(db, storage, performance)
    storage.delete_keys([output_keys(attempt)["keypoints"]])
    comparison_id = queued(db, reference, attempt, webhook_url="https://hooks.example.com/x")

    assert run_comparison(comparison_id, storage) == Outcome("failed", "comparison.failed")

    failed = row(db, comparison_id)
    assert (failed.status, failed.error_code) == ("failed", "input_missing")
    assert failed.report_key is None and failed.finished_at is not None
    assert list(storage.objects_under("comparisons/")) == []


def test_a_job_without_keypoints_fails_input_missing(db, storage, performance):
    reference = stored_job(db, storage, performance)
    expired = stored_job(db, storage, performance, files=())
    comparison_id = queued(db, reference, expired)

    assert run_comparison(comparison_id, storage) == Outcome("failed")

    failed = row(db, comparison_id)
    assert failed.error_code == "input_missing" and str(expired) in failed.error_message


def test_unusable_keypoints_fail_with_the_comparisons_own_code(db, storage, tmp_path):
    (tmp_path / "keypoints.json").write_text("{not json")
    job = stored_job(db, storage, tmp_path, files=("keypoints",))
    comparison_id = queued(db, job)

    assert run_comparison(comparison_id, storage).status == "failed"

    failed = row(db, comparison_id)
    assert failed.error_code == "bad_keypoints"
    assert "dance-compare-" not in failed.error_message  # no path of the worker's disk


def test_too_little_pose_fails_with_its_code(db, storage, performance, tmp_path):
    keypoints = json.loads((performance / "keypoints.json").read_text())
    for frame in keypoints["frames"][10:]:  # a pose in the first 10 frames (0.7 s) only
        frame |= {"detected": False, "landmarks": None, "world_landmarks": None}
    (tmp_path / "keypoints.json").write_text(json.dumps(keypoints))
    shutil.copy(performance / "annotated.mp4", tmp_path / "annotated.mp4")
    reference = stored_job(db, storage, performance)
    attempt = stored_job(db, storage, tmp_path, files=("keypoints", "video"))
    comparison_id = queued(db, reference, attempt)

    assert run_comparison(comparison_id, storage).status == "failed"

    failed = row(db, comparison_id)
    assert failed.error_code == "too_little_pose" and "attempt" in failed.error_message


def test_a_comparison_whose_workers_were_lost_too_often_fails(db, storage, performance):
    """Each start counts (a worker killed mid-comparison gives the task back): past
    JOB_MAX_ATTEMPTS starts it fails instead of coming back for ever."""
    from shared.config import settings

    job = stored_job(db, storage, performance, files=("keypoints",))
    comparison_id = queued(db, job, status="processing", attempts=settings.JOB_MAX_ATTEMPTS)
    assert run_comparison(comparison_id, storage) == Outcome("failed")
    done = row(db, comparison_id)
    assert (done.status, done.error_code) == ("failed", "attempts_exhausted")
    assert done.attempts == settings.JOB_MAX_ATTEMPTS + 1

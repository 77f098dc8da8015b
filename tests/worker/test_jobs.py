"""One job, run by `worker.jobs.process_job` on the real Postgres and a moto S3 server:
every way a job can go, including running twice, being taken over and being deleted."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import timedelta

import pytest

from shared import states
from shared.config import settings
from shared.models import Job, utcnow
from shared.states import mark_deleted
from shared.storage import Storage
from shared.storage_keys import export_key, input_key, output_keys
from shared.tenants import default_tenant
from tests.clips import make_clip
from worker import jobs
from worker.scratch import Scratch

pytestmark = pytest.mark.services


@pytest.fixture
def submit(db, storage, tmp_path):
    """Put a clip in the bucket and a queued job row in the database, as the gateway does."""

    def submit(frames: int = 12, content: bytes | None = None, **row) -> uuid.UUID:
        job_id = uuid.uuid4()
        key = input_key(job_id, "clip.mp4")
        if content is None:
            content = open(make_clip(tmp_path / f"{job_id}.mp4", frames=frames), "rb").read()
        storage.client.put_object(Bucket=storage.bucket, Key=key, Body=content)
        with db() as session:
            session.add(
                Job(
                    id=job_id,
                    tenant_id=default_tenant(session).id,
                    input_key=key,
                    **{"options": {}, **row},
                )
            )
        return job_id

    return submit


def load(db, job_id) -> Job:
    with db() as session:
        return session.get(Job, job_id)


def stored(storage: Storage, job_id) -> list[str]:
    listing = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=f"outputs/{job_id}/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_job_succeeds_with_its_outputs_at_fixed_keys(db, storage, submit):
    job_id = submit()
    outcome = jobs.process_job(job_id, storage)
    assert (outcome.status, outcome.event) == ("succeeded", "job.succeeded")
    job = load(db, job_id)
    assert (job.status, job.progress, job.attempts) == ("succeeded", 100, 1)
    assert job.metrics["total_frames"] == 12 and job.worker_host == jobs.HOSTNAME
    assert job.started_at <= job.finished_at
    keys = output_keys(job_id)
    motion = [export_key(job_id, n) for n in ("motion.bvh", "markers.trc", "world_landmarks.csv")]
    assert stored(storage, job_id) == sorted([*keys.values(), *motion])
    assert job.output_exports == {
        "files": [
            {"name": "motion.bvh", "format": "bvh", "person": 1, "key": motion[0]},
            {"name": "markers.trc", "format": "trc", "person": 1, "key": motion[1]},
            {"name": "world_landmarks.csv", "format": "csv", "person": None, "key": motion[2]},
        ],
        "note": None,
    }


def test_a_second_delivery_of_a_finished_job_does_nothing(db, storage, submit):
    job_id = submit()
    jobs.process_job(job_id, storage)
    finished = load(db, job_id).finished_at
    assert jobs.process_job(job_id, storage).status == "skipped"
    job = load(db, job_id)
    assert (job.attempts, job.finished_at) == (1, finished)


def test_bad_input_fails_once_with_its_code(db, storage, submit):
    job_id = submit(content=b"\x00\x00\x00\x18ftypisom" + b"\x00" * 5000)
    outcome = jobs.process_job(job_id, storage)
    assert (outcome.status, outcome.event) == ("failed", "job.failed")
    job = load(db, job_id)
    assert (job.status, job.error_code) == ("failed", "corrupt_video")
    assert stored(storage, job_id) == []


def test_a_missing_input_fails_with_input_missing(db, storage, submit):
    job_id = submit()
    storage.client.delete_object(Bucket=storage.bucket, Key=load(db, job_id).input_key)
    assert jobs.process_job(job_id, storage).status == "failed"
    assert load(db, job_id).error_code == "input_missing"


def test_a_job_leased_by_a_live_worker_is_looked_at_again_after_the_lease(db, storage, submit):
    job_id = submit(
        status="processing", attempts=1, lease_expires_at=utcnow() + timedelta(seconds=40)
    )
    with pytest.raises(jobs.RetryLater) as later:
        jobs.process_job(job_id, storage)
    assert 40 <= later.value.delay_s <= 46
    assert load(db, job_id).attempts == 1


def test_a_job_whose_worker_died_is_taken_over(db, storage, submit):
    job_id = submit(
        status="processing", attempts=1, lease_expires_at=utcnow() - timedelta(seconds=1)
    )
    assert jobs.process_job(job_id, storage).status == "succeeded"
    assert load(db, job_id).attempts == 2


def test_a_job_out_of_attempts_fails(db, storage, submit):
    job_id = submit(
        status="processing",
        attempts=settings.JOB_MAX_ATTEMPTS,
        lease_expires_at=utcnow() - timedelta(seconds=1),
    )
    outcome = jobs.process_job(job_id, storage)
    assert (outcome.status, outcome.event) == ("failed", "job.failed")
    assert load(db, job_id).error_code == "attempts_exhausted"


def test_a_job_deleted_while_it_runs_stops_and_leaves_no_outputs(db, storage, submit, monkeypatch):
    monkeypatch.setattr(settings, "PROGRESS_INTERVAL_S", 0.05)
    job_id = submit(frames=150)
    result = {}
    runner = threading.Thread(
        target=lambda: result.update(outcome=jobs.process_job(job_id, storage))
    )
    runner.start()
    deadline = time.monotonic() + 60
    while load(db, job_id).progress < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    with db() as session:
        assert mark_deleted(session, job_id) is not None
    runner.join(timeout=60)
    assert result["outcome"].status == "cancelled"
    assert load(db, job_id).status == "deleted"
    assert stored(storage, job_id) == []


def test_a_storage_outage_releases_the_attempt_until_its_next_try(
    db, submit, s3_settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "WORKER_SCRATCH_DIR", str(tmp_path / "scratch"))
    job_id = submit()
    unreachable = s3_settings.model_copy(update={"S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    storage = Storage(unreachable, connect_timeout_s=0.5, max_attempts=1)

    with pytest.raises(jobs.WaitForDependency) as waiting:
        jobs.process_job(job_id, storage, retries=2)

    job = load(db, job_id)
    assert (job.status, job.attempts) == ("retrying", 1)
    assert job.retry_reason.startswith("storage unavailable")
    assert waiting.value.attempt == 1 and waiting.value.since == job.retrying_since
    assert 8 * 0.8 <= waiting.value.delay_s <= 8 * 1.2  # 2 s doubled twice, +-20 %
    assert (job.next_retry_at - utcnow()).total_seconds() == pytest.approx(
        waiting.value.delay_s, abs=2
    )
    assert jobs.process_job(job_id, storage).status == "skipped"  # a plain message waits


def test_the_continued_attempt_succeeds_without_using_an_attempt(
    db, storage, submit, s3_settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "WORKER_SCRATCH_DIR", str(tmp_path / "scratch"))
    job_id = submit()
    unreachable = s3_settings.model_copy(update={"S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    with pytest.raises(jobs.WaitForDependency):
        jobs.process_job(job_id, Storage(unreachable, connect_timeout_s=0.5, max_attempts=1))

    outcome = jobs.process_job(job_id, storage, continue_attempt=1, worker="worker-b@host")

    job = load(db, job_id)
    assert outcome.status == "succeeded"
    assert (job.status, job.attempts, job.worker_host) == ("succeeded", 1, "worker-b@host")
    assert job.retry_reason is None and job.retrying_since is None
    assert not (tmp_path / "scratch" / str(job_id)).exists()  # staged files removed at the end


def test_an_output_upload_to_a_missing_bucket_fails_with_a_storage_code(
    db, storage, submit, s3_settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "WORKER_SCRATCH_DIR", str(tmp_path / "scratch"))
    job_id = submit()
    # The input is staged (as by an earlier try of the attempt); the outputs then go to a
    # bucket that does not exist.
    gone = Storage(s3_settings.model_copy(update={"S3_BUCKET": "no-such-bucket-here"}))
    with db() as session:
        jobs.claim_job(session, job_id, worker_host="w", lease_s=60)
    scratch = Scratch(settings.scratch_dir, job_id, 1)
    scratch.input(".mp4", lambda path: storage.download_file(load(db, job_id).input_key, path))
    with db() as session:
        states.release_for_retry(session, job_id, attempt=1, reason="test", next_retry_at=utcnow())

    outcome = jobs.process_job(job_id, gone, continue_attempt=1)

    job = load(db, job_id)
    assert outcome.status == "failed"
    assert (job.error_code, job.error_message) == (
        "storage_bucket_missing",
        "the storage bucket does not exist",
    )


def test_dependency_delays_grow_to_the_cap_with_jitter():
    rng = random.Random(7)
    delays = [jobs.dependency_delay_s(n, rng) for n in range(12)]
    assert 1.6 <= delays[0] <= 2.4 and 3.2 <= delays[1] <= 4.8
    assert all(d <= settings.DEPENDENCY_RETRY_MAX_DELAY_S * 1.2 for d in delays)
    assert delays[-1] >= settings.DEPENDENCY_RETRY_MAX_DELAY_S * 0.8


def test_a_job_asking_for_a_model_this_worker_lacks_fails_at_once_with_its_code(
    db, storage, submit, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "POSE_MODELS_DIR", str(tmp_path / "no-models"))
    job_id = submit(options={"model": "heavy"})
    started = time.monotonic()
    outcome = jobs.process_job(job_id, storage)
    assert (outcome.status, outcome.event) == ("failed", "job.failed")
    job = load(db, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "model_unavailable", 1)
    assert "dance-analyzer models install heavy" in job.error_message
    assert stored(storage, job_id) == []
    assert time.monotonic() - started < 30  # no frame was decoded or retried

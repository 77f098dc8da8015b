"""Run one job: claim it, fetch the input, run the pipeline, publish outputs, record the end.

Plain functions over the database, the bucket and the pipeline; the Celery task only calls
`process_job` and maps its outcome to retries.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.config import settings
from shared.db import session_scope
from shared.models import Job, utcnow
from shared.states import (
    TERMINAL,
    JobStatus,
    claim_job,
    fail_exhausted,
    mark_failed,
    mark_succeeded,
    release_job,
    update_progress,
)
from shared.storage import Storage
from shared.storage_errors import is_transient_storage_error
from shared.storage_keys import output_keys
from worker.pipeline.errors import VideoInputError
from worker.pipeline.runner import PipelineOptions, analyze_video
from worker.video_limits import video_limits

log = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()


class JobCancelled(Exception):
    """The job was deleted, or another worker took it over, while this one ran it."""


class RetryLater(Exception):
    """Someone else holds the job's lease: look again after `delay_s`."""

    def __init__(self, delay_s: float):
        super().__init__(f"job is leased elsewhere; retry in {delay_s:.0f} s")
        self.delay_s = delay_s


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | skipped | cancelled
    event: str | None = None  # webhook event to send, if any


def process_job(job_id: uuid.UUID, storage: Storage) -> Outcome:
    """Process one job end to end. Safe to run twice: every step is guarded in the database.

    Raises `RetryLater`, or a transient storage/database error, for the task to retry;
    everything else ends the job (failed with a code) and is returned as an `Outcome`.
    """
    with session_scope() as session:
        job = claim_job(session, job_id, worker_host=HOSTNAME, lease_s=settings.JOB_LEASE_S)
        if job is None:
            return _not_claimed(session, job_id)
        attempt = job.attempts
        input_key, options = job.input_key, dict(job.options or {})
    log.info("job %s: attempt %d on %s", job_id, attempt, HOSTNAME)
    workdir = Path(tempfile.mkdtemp(prefix=f"dance-{job_id}-"))
    started = time.perf_counter()
    try:
        source = workdir / ("input" + Path(input_key).suffix)
        storage.download_file(input_key, source)
        result = analyze_video(source, workdir / "out", _pipeline_options(options),
                               on_progress=_ProgressRecorder(job_id, attempt))
        keys = output_keys(job_id)
        storage.upload_file(result.video_path, keys.video, "video/mp4")
        storage.upload_file(result.keypoints_path, keys.keypoints, "application/json")
        storage.upload_file(result.summary_path, keys.summary, "application/json")
        with session_scope() as session:
            done = mark_succeeded(
                session, job_id, metrics=result.metrics, output_video_key=keys.video,
                output_keypoints_key=keys.keypoints, output_summary_key=keys.summary,
                processing_time_s=round(time.perf_counter() - started, 3), attempt=attempt)
        if done is None:
            raise JobCancelled()
        log.info("job %s: succeeded (%s frames)", job_id, result.metrics["processed_frames"])
        return Outcome("succeeded", "job.succeeded")
    except VideoInputError as exc:
        log.info("job %s: bad input: %s", job_id, exc)
        return _fail(job_id, attempt, exc.code, exc.message)
    except JobCancelled:
        log.info("job %s: cancelled (deleted or taken over); removing its outputs", job_id)
        _remove_outputs_if_deleted(job_id, storage)
        return Outcome("cancelled")
    except SoftTimeLimitExceeded:
        return _fail(job_id, attempt, "time_limit_exceeded",
                     f"processing took longer than {settings.JOB_SOFT_TIME_LIMIT_S} s")
    except Exception as exc:
        if _is_missing_object(exc):
            return _fail(job_id, attempt, "input_missing", "the uploaded video is no longer stored")
        if is_transient(exc):
            with session_scope() as session:  # hand it back for the task's retry
                release_job(session, job_id, attempt=attempt)
            raise
        log.exception("job %s: failed unexpectedly", job_id)
        return _fail(job_id, attempt, "internal_error",
                     f"processing failed unexpectedly ({type(exc).__name__})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def fail_after_retries(job_id: uuid.UUID, exc: BaseException) -> Outcome:
    """Transient errors outlasted the retries: end the job so it does not hang forever."""
    with session_scope() as session:
        job = mark_failed(session, job_id, code="dependency_unavailable",
                          message=f"storage or database kept failing ({type(exc).__name__})")
    return Outcome("failed", "job.failed") if job else Outcome("skipped")


def _not_claimed(session, job_id: uuid.UUID) -> Outcome:
    """Why the claim failed decides what to do: nothing, wait for a lease, or give up."""
    job = session.get(Job, job_id)
    if job is None:
        log.warning("job %s: no such job; dropping the message", job_id)
        return Outcome("skipped")
    if job.status in TERMINAL:
        return Outcome("skipped")  # a duplicate delivery of a finished job
    if fail_exhausted(session, job_id) is not None:
        log.warning("job %s: attempts exhausted", job_id)
        return Outcome("failed", "job.failed")
    if job.status == JobStatus.processing and job.lease_expires_at:
        # Another worker holds it (or held it and died): look again once the lease ends.
        remaining = (job.lease_expires_at - utcnow()).total_seconds()
        raise RetryLater(max(1.0, remaining) + 5)
    return Outcome("skipped")


def _fail(job_id: uuid.UUID, attempt: int, code: str, message: str) -> Outcome:
    with session_scope() as session:
        job = mark_failed(session, job_id, code=code, message=message, attempt=attempt)
    return Outcome("failed", "job.failed") if job else Outcome("cancelled")


def _remove_outputs_if_deleted(job_id: uuid.UUID, storage: Storage) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        deleted = job is None or job.status == JobStatus.deleted
    if deleted:
        storage.delete_job_objects(job_id)


def _pipeline_options(options: dict) -> PipelineOptions:
    return PipelineOptions(
        min_detection_confidence=float(
            options.get("min_detection_confidence", settings.MIN_DETECTION_CONFIDENCE)),
        min_tracking_confidence=float(
            options.get("min_tracking_confidence", settings.MIN_TRACKING_CONFIDENCE)),
        limits=video_limits(settings),
    )


class _ProgressRecorder:
    """Writes progress (and renews the lease) at most every PROGRESS_INTERVAL_S seconds."""

    def __init__(self, job_id: uuid.UUID, attempt: int):
        self.job_id, self.attempt = job_id, attempt
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < settings.PROGRESS_INTERVAL_S:
            return
        self.last = now
        # 0-95 for frames; the last 5% is the upload of the outputs
        percent = int(95 * done / total) if total else 0
        with session_scope() as session:
            ours = update_progress(session, self.job_id, percent, lease_s=settings.JOB_LEASE_S,
                                   attempt=self.attempt)
        if not ours:
            raise JobCancelled()


def _is_missing_object(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in (
        "404", "NoSuchKey")


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: storage hiccups and lost database connections."""
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True
    return is_transient_storage_error(exc)

"""Run one job attempt: claim it, fetch the input, run the pipeline, publish the outputs,
record the end.

Plain functions over the database, the bucket and the pipeline; the Celery task only calls
`process_job` and maps what it raises to retries:

- `WaitForDependency`: storage or the database failed in a way that may pass. The job was
  released (`retrying`, with the reason and the next try) and the same attempt continues
  later: no attempt is used, and the input and outputs already staged on this worker's disk
  (`worker.scratch`) are not made again.
- `HandedBack`: the worker is shutting down and the grace period is over; the job was
  released for another worker to continue at once.
- `RetryLater`: another worker holds the job's lease; look again when it ends.
"""

from __future__ import annotations

import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.options import pipeline_options
from pipeline.runner import PipelineResult
from shared import logs
from shared.config import settings
from shared.db import session_scope
from shared.models import Job, utcnow
from shared.outputs import JOB_OUTPUTS, motion_format
from shared.states import (
    TERMINAL,
    JobStatus,
    claim_job,
    fail_exhausted,
    mark_failed,
    mark_succeeded,
    release_for_retry,
)
from shared.storage import Storage
from shared.storage_errors import storage_failure
from shared.storage_keys import export_key, output_key
from worker import job_runs, prometheus, shutdown
from worker.failures import known_failure
from worker.lease import LeaseKeeper
from worker.progress import JobCancelled
from worker.scratch import Scratch
from worker.shutdown import ShuttingDown
from worker.transient import dependency_of, is_transient

log = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
FIRST_RETRY_DELAY_S = 2.0
JITTER = 0.2


class RetryLater(Exception):
    """Someone else holds the job's lease: look again after `delay_s`."""

    def __init__(self, delay_s: float):
        super().__init__(f"job is leased elsewhere; retry in {delay_s:.0f} s")
        self.delay_s = delay_s


class WaitForDependency(Exception):
    """Storage or the database is unavailable: continue `attempt` after `delay_s`.

    `since` is when this attempt's wait began, as recorded in the database (None if the
    database could not be reached to record it); `lease_token` names the claim that still
    holds the lease when the release could not be written."""

    def __init__(
        self,
        attempt: int,
        delay_s: float,
        reason: str,
        since: datetime | None,
        lease_token: str | None,
    ):
        super().__init__(reason)
        self.attempt, self.delay_s, self.reason = attempt, delay_s, reason
        self.since, self.lease_token = since, lease_token


class HandedBack(Exception):
    """The worker shuts down: `attempt` was released for another worker to continue now."""

    def __init__(self, attempt: int):
        super().__init__(f"attempt {attempt} handed back")
        self.attempt = attempt


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | skipped | cancelled
    event: str | None = None  # webhook event to send, if any


def process_job(
    job_id: uuid.UUID,
    storage: Storage,
    *,
    worker: str = HOSTNAME,
    continue_attempt: int | None = None,
    lease_token: str | None = None,
    retries: int = 0,
) -> Outcome:
    """Process one job (or continue attempt `continue_attempt` after a wait; `lease_token`:
    of this chain's last claim). Safe to run twice: every step is guarded in the database.
    `retries`: how many waits came before."""
    with session_scope() as session:
        job = claim_job(
            session,
            job_id,
            worker_host=worker,
            lease_s=settings.JOB_LEASE_S,
            continue_attempt=continue_attempt,
            lease_token=lease_token,
        )
        if job is None:
            return _not_claimed(session, job_id, continue_attempt)
        attempt, token = job.attempts, job.lease_token
        input_key, options = job.input_key, dict(job.options or {})
        first_claim = continue_attempt is None and job.attempts == 1
        queue_wait_s, request_id = job.queue_wait_s, job.request_id
    if first_claim and queue_wait_s is not None:
        prometheus.QUEUE_WAIT.observe(queue_wait_s)
    context = logs.bind(attempt=attempt, request_id=request_id or "")
    try:
        return _attempt(
            job_id,
            attempt,
            token,
            input_key,
            options,
            storage,
            worker=worker,
            continued=continue_attempt is not None,
            retries=retries,
        )
    finally:
        logs.unbind(context)


def _attempt(
    job_id: uuid.UUID,
    attempt: int,
    token: str | None,
    input_key: str,
    options: dict,
    storage: Storage,
    *,
    worker: str,
    continued: bool,
    retries: int,
) -> Outcome:
    """Run a claimed attempt to its end, or to a wait (see the module docstring)."""
    log.info(
        "job %s: attempt %d on %s%s",
        job_id,
        attempt,
        worker,
        " (continued)" if continued else "",
    )
    scratch = Scratch(settings.scratch_dir, job_id, attempt)
    started = time.perf_counter()
    try:
        with LeaseKeeper(job_id, attempt, settings.JOB_LEASE_S) as lease:
            result = _run(
                job_id, attempt, input_key, options, storage, scratch, lease, worker=worker
            )
            if scratch.reused:
                log.info(
                    "job %s: reused from an earlier try: %s", job_id, " and ".join(scratch.reused)
                )
            done = _publish(job_id, attempt, result, storage, time.perf_counter() - started)
        if done is None:
            raise JobCancelled()
        scratch.remove()
        job_runs.succeeded(job_id, result, storage)
        log.info("job %s: succeeded (%s frames)", job_id, result.metrics["processed_frames"])
        prometheus.FINISHED.labels("succeeded", "").inc()
        prometheus.DURATION.observe(time.perf_counter() - started)
        if fps := result.metrics.get("processing_fps"):
            prometheus.FRAMES_PER_SECOND.observe(fps)
        return Outcome("succeeded", "job.succeeded")
    except JobCancelled:
        log.info("job %s: cancelled (deleted or taken over); removing its outputs", job_id)
        scratch.remove()
        _remove_outputs_if_deleted(job_id, storage)
        return Outcome("cancelled")
    except ShuttingDown:
        _release(job_id, attempt, "the worker shut down; another one continues", utcnow())
        raise HandedBack(attempt) from None
    except Exception as exc:
        failure = known_failure(exc)
        if failure is None and is_transient(exc):
            raise _wait(job_id, attempt, token, exc, retries) from exc
        scratch.remove()
        if failure is None:
            failure = _unexpected(job_id, exc)
        else:
            log.info("job %s: failed: %s: %s", job_id, *failure)
        return _fail(job_id, attempt, *failure)


def _run(
    job_id: uuid.UUID,
    attempt: int,
    input_key: str,
    options: dict,
    storage: Storage,
    scratch: Scratch,
    lease: LeaseKeeper,
    *,
    worker: str,
) -> PipelineResult:
    """The input and the pipeline's outputs, from the scratch space when an earlier try of
    this attempt made them (`worker.job_runs`: whole, or split across workers)."""
    source = scratch.input(
        Path(input_key).suffix, lambda path: storage.download_file(input_key, path)
    )
    if lease.lost.is_set():
        raise JobCancelled()
    shutdown.check()
    pipeline = pipeline_options(options)
    return scratch.outputs(
        lambda out: job_runs.make_outputs(
            job_id,
            attempt,
            source,
            pipeline,
            out,
            storage=storage,
            scratch=scratch,
            lease=lease,
            worker=worker,
        )
    )


def _publish(
    job_id: uuid.UUID, attempt: int, result: PipelineResult, storage: Storage, took_s: float
) -> Job | None:
    """Upload the outputs and record the success; None if the attempt lost the job."""
    shutdown.check()
    keys = upload_outputs(result, job_id, storage)
    exports = upload_exports(result, job_id, storage)
    with session_scope() as session:
        return mark_succeeded(
            session,
            job_id,
            metrics=result.metrics,
            output_keys=keys,
            output_exports=exports,
            analysis=result.analysis,
            processing_time_s=round(took_s, 3),
            attempt=attempt,
        )


def _wait(
    job_id: uuid.UUID, attempt: int, token: str | None, exc: Exception, retries: int
) -> WaitForDependency:
    """Release the attempt to wait out a dependency's outage; the exception that says so."""
    delay = dependency_delay_s(retries)
    reason = f"{dependency_of(exc)} unavailable ({type(exc).__name__})"
    log.warning("job %s: %s; attempt %d continues in %.0f s", job_id, reason, attempt, delay)
    prometheus.DEPENDENCY_WAITS.labels(dependency_of(exc)).inc()
    since = _release(job_id, attempt, reason, utcnow() + timedelta(seconds=delay))
    return WaitForDependency(attempt, delay, reason, since, token)


def _unexpected(job_id: uuid.UUID, exc: Exception) -> tuple[str, str]:
    """The code and message of a failure nobody planned for: storage refusing, or a bug."""
    if (failure := storage_failure(exc)) is not None:
        log.error("job %s: storage refused: %s", job_id, exc)
        return failure
    log.exception("job %s: failed unexpectedly", job_id)
    return "internal_error", f"processing failed unexpectedly ({type(exc).__name__})"


def upload_outputs(result: PipelineResult, job_id: uuid.UUID, storage: Storage) -> dict[str, str]:
    """Upload the run's outputs (`shared.outputs.JOB_OUTPUTS`); their keys by output name."""
    keys = {}
    paths = result.output_paths()
    for output in JOB_OUTPUTS:
        keys[output.name] = output_key(job_id, output)
        storage.upload_file(paths[output.name], keys[output.name], output.media_type)
    return keys


def upload_exports(result: PipelineResult, job_id: uuid.UUID, storage: Storage) -> dict:
    """Upload the run's motion files; what the job row keeps of them (`Job.output_exports`)."""
    files = []
    for item, path in zip(result.exports.files, result.export_paths(), strict=True):
        key = export_key(job_id, item.name)
        storage.upload_file(path, key, motion_format(item.format).media_type)
        files.append({**item.as_dict(), "key": key})
    return {"files": files, "note": result.exports.note}


def dependency_delay_s(retries: int, rng: random.Random | None = None) -> float:
    """Wait before the next try after `retries` earlier ones: 2, 4, 8 ... s, at most
    DEPENDENCY_RETRY_MAX_DELAY_S, +-20 % jitter so that workers do not retry in step."""
    base = min(settings.DEPENDENCY_RETRY_MAX_DELAY_S, FIRST_RETRY_DELAY_S * 2**retries)
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def fail_dependency_unavailable(job_id: uuid.UUID, attempt: int | None) -> Outcome:
    """The outage outlasted DEPENDENCY_RETRY_WINDOW_S: end the job. Raises (for a retry of
    this write) while the database is still down."""
    with session_scope() as session:
        job = mark_failed(
            session,
            job_id,
            code="dependency_unavailable",
            attempt=attempt,
            message="storage or the database stayed unavailable for more than "
            f"{settings.DEPENDENCY_RETRY_WINDOW_S:g} s",
        )
    if job is None:
        return Outcome("skipped")
    Scratch(settings.scratch_dir, job_id, job.attempts).remove()
    prometheus.FINISHED.labels("failed", "dependency_unavailable").inc()
    return Outcome("failed", "job.failed")


def _release(job_id: uuid.UUID, attempt: int, reason: str, next_at: datetime) -> datetime | None:
    """Release the attempt until `next_at`; the start of its wait, or None if the database
    could not take it (the attempt continues all the same once it is back)."""
    try:
        with session_scope() as session:
            job = release_for_retry(
                session, job_id, attempt=attempt, reason=reason, next_retry_at=next_at
            )
        return job.retrying_since if job else None
    except Exception as exc:
        log.warning("job %s: could not record the release: %s", job_id, exc)
        return None


def _not_claimed(session, job_id: uuid.UUID, continue_attempt: int | None) -> Outcome:
    """Why the claim failed decides what to do: nothing, wait for a lease, or give up."""
    job = session.get(Job, job_id)
    if job is None:
        log.warning("job %s: no such job; dropping the message", job_id)
        return Outcome("skipped")
    if job.status in TERMINAL:
        return Outcome("skipped")  # a duplicate delivery of a finished job
    if continue_attempt is not None and job.attempts != continue_attempt:
        return Outcome("skipped")  # a newer attempt took over
    if job.status == JobStatus.retrying:
        return Outcome("skipped")  # its own continuation comes at its time
    if continue_attempt is None and fail_exhausted(session, job_id) is not None:
        log.warning("job %s: attempts exhausted", job_id)
        prometheus.FINISHED.labels("failed", "attempts_exhausted").inc()
        return Outcome("failed", "job.failed")
    if job.status == JobStatus.processing and job.lease_expires_at:
        # Another worker holds it (or held it and died): look again once the lease ends.
        remaining = (job.lease_expires_at - utcnow()).total_seconds()
        raise RetryLater(max(1.0, remaining) + 5)
    return Outcome("skipped")


def _fail(job_id: uuid.UUID, attempt: int, code: str, message: str) -> Outcome:
    with session_scope() as session:
        job = mark_failed(session, job_id, code=code, message=message, attempt=attempt)
    if job is None:
        return Outcome("cancelled")
    prometheus.FINISHED.labels("failed", code).inc()
    return Outcome("failed", "job.failed")


def _remove_outputs_if_deleted(job_id: uuid.UUID, storage: Storage) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        deleted = job is None or job.status == JobStatus.deleted
    if deleted:
        storage.delete_job_objects(job_id)

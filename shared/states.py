"""Job states, the transitions allowed between them, and the guarded transitions in SQL.

Every transition is a single `UPDATE jobs SET ... WHERE id = :id AND <guard> RETURNING ...`:
it happens completely or not at all, and of two concurrent callers at most one wins. Each
function returns the updated `Job` (or `True`) when it happened and `None` (or `False`) when
the guard refused; it never commits, the caller's `session_scope()` does.

Times are computed in Python as aware UTC datetimes (`utcnow()`), so Postgres and SQLite
compare them the same way. Functions taking `attempt=` use it as a fencing token: pass the
`attempts` value returned by `claim_job`, and a worker whose lease expired and whose job was
claimed again by someone else can no longer write to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session

from shared.config import settings
from shared.models import Job, JobStatus, UTCDateTime, utcnow

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "JobStatus",
    "can_transition",
    "claim_job",
    "fail_exhausted",
    "find_expired_leases",
    "find_expired_retention",
    "find_stale_queued",
    "mark_deleted",
    "mark_expired",
    "mark_failed",
    "mark_succeeded",
    "release_job",
    "update_progress",
]

ERROR_MESSAGE_MAX_CHARS = 4000

TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.succeeded, JobStatus.failed, JobStatus.deleted, JobStatus.expired}
)

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.processing, JobStatus.failed, JobStatus.deleted}),
    # processing -> processing: a redelivered task reclaims a job whose lease expired;
    # processing -> queued: a worker releases the job for a later retry.
    JobStatus.processing: frozenset(
        {
            JobStatus.processing,
            JobStatus.queued,
            JobStatus.succeeded,
            JobStatus.failed,
            JobStatus.deleted,
        }
    ),
    # -> expired: the retention purge removed its files (RETENTION_DAYS)
    JobStatus.succeeded: frozenset({JobStatus.deleted, JobStatus.expired}),
    JobStatus.failed: frozenset({JobStatus.deleted, JobStatus.expired}),
    JobStatus.expired: frozenset({JobStatus.deleted}),
    JobStatus.deleted: frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    """Whether a job in status `current` may move to status `target`."""
    try:
        return JobStatus(target) in TRANSITIONS[JobStatus(current)]
    except ValueError:
        return False


def claim_job(
    session: Session,
    job_id: uuid.UUID,
    *,
    worker_host: str,
    lease_s: float,
    max_attempts: int | None = None,
) -> Job | None:
    """Take a queued job, or a processing one whose lease expired, for one more attempt.

    Refused once `attempts` reached `max_attempts` (default `settings.JOB_MAX_ATTEMPTS`).
    On success the job is processing, holds a lease until now + `lease_s`, and the returned
    row's `attempts` is this attempt's number.
    """
    now = utcnow()
    limit = settings.JOB_MAX_ATTEMPTS if max_attempts is None else max_attempts
    job = _transition(
        session,
        job_id,
        [
            or_(
                Job.status == JobStatus.queued.value,
                and_(Job.status == JobStatus.processing.value, _lease_expired(now)),
            ),
            Job.attempts < limit,
        ],
        status=JobStatus.processing.value,
        started_at=func.coalesce(Job.started_at, _at(now)),
        attempts=Job.attempts + 1,
        worker_host=worker_host,
        lease_expires_at=now + timedelta(seconds=lease_s),
        progress=0,
        updated_at=now,
    )
    if job is not None and job.queue_wait_s is None and job.started_at is not None:
        job.queue_wait_s = max(0.0, (job.started_at - job.created_at).total_seconds())
    return job


def release_job(session: Session, job_id: uuid.UUID, *, attempt: int | None = None) -> Job | None:
    """Give a processing job back to the queue (e.g. before a Celery retry); attempts are kept."""
    return _transition(
        session,
        job_id,
        [Job.status == JobStatus.processing.value, *_fence(attempt)],
        status=JobStatus.queued.value,
        lease_expires_at=None,
        updated_at=utcnow(),
    )


def fail_exhausted(
    session: Session, job_id: uuid.UUID, *, max_attempts: int | None = None
) -> Job | None:
    """Fail a job that used all its attempts and is no longer held by a live lease."""
    now = utcnow()
    limit = settings.JOB_MAX_ATTEMPTS if max_attempts is None else max_attempts
    return _transition(
        session,
        job_id,
        [
            Job.attempts >= limit,
            or_(
                Job.status == JobStatus.queued.value,
                and_(Job.status == JobStatus.processing.value, _lease_expired(now)),
            ),
        ],
        status=JobStatus.failed.value,
        error_code="attempts_exhausted",
        error_message=f"gave up after {limit} attempts",
        finished_at=now,
        lease_expires_at=None,
        updated_at=now,
    )


def update_progress(
    session: Session,
    job_id: uuid.UUID,
    progress: int,
    *,
    lease_s: float,
    attempt: int | None = None,
) -> bool:
    """Record progress (clamped to 0..100, never lower than before) and extend the lease.

    Only while processing; `False` means the job is no longer ours to work on.
    """
    now = utcnow()
    progress = max(0, min(100, int(progress)))
    job = _transition(
        session,
        job_id,
        [Job.status == JobStatus.processing.value, *_fence(attempt)],
        progress=case((Job.progress < progress, progress), else_=Job.progress),
        lease_expires_at=now + timedelta(seconds=lease_s),
        updated_at=now,
    )
    return job is not None


def mark_succeeded(
    session: Session,
    job_id: uuid.UUID,
    *,
    metrics: dict[str, Any],
    output_video_key: str,
    output_keypoints_key: str,
    output_summary_key: str,
    processing_time_s: float | None = None,
    attempt: int | None = None,
) -> Job | None:
    """Finish a processing job successfully with its outputs and metrics (progress 100)."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status.in_(_sources(JobStatus.succeeded)), *_fence(attempt)],
        status=JobStatus.succeeded.value,
        progress=100,
        metrics=metrics,
        output_video_key=output_video_key,
        output_keypoints_key=output_keypoints_key,
        output_summary_key=output_summary_key,
        processing_time_s=processing_time_s,
        error_code=None,
        error_message=None,
        finished_at=now,
        lease_expires_at=None,
        updated_at=now,
    )


def mark_failed(
    session: Session,
    job_id: uuid.UUID,
    *,
    code: str,
    message: str,
    attempt: int | None = None,
) -> Job | None:
    """Fail a queued or processing job with a machine `code` and a human `message`."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status.in_(_sources(JobStatus.failed)), *_fence(attempt)],
        status=JobStatus.failed.value,
        error_code=code,
        error_message=message[:ERROR_MESSAGE_MAX_CHARS],
        finished_at=now,
        lease_expires_at=None,
        updated_at=now,
    )


def mark_deleted(session: Session, job_id: uuid.UUID) -> Job | None:
    """Mark a job deleted, whatever its state, unless it already is."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status.in_(_sources(JobStatus.deleted))],
        status=JobStatus.deleted.value,
        deleted_at=now,
        lease_expires_at=None,
        updated_at=now,
    )


def mark_expired(session: Session, job_id: uuid.UUID) -> Job | None:
    """Mark a finished job expired: its files are gone, its row stays for the record."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status.in_(_sources(JobStatus.expired))],
        status=JobStatus.expired.value,
        expired_at=now,
        updated_at=now,
    )


def find_expired_retention(
    session: Session, finished_before: datetime, *, limit: int = 100
) -> list[uuid.UUID]:
    """Ids of succeeded or failed jobs that finished before `finished_before`, oldest first.

    On Postgres the rows are locked (`SKIP LOCKED`) so that workers purging at the same time
    take different jobs.
    """
    stmt = (
        select(Job.id)
        .where(Job.status.in_(_sources(JobStatus.expired)), Job.finished_at < finished_before)
        .order_by(Job.finished_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def find_stale_queued(
    session: Session, older_than_s: float, *, limit: int = 100
) -> list[uuid.UUID]:
    """Ids of jobs queued for more than `older_than_s` seconds, oldest first (to re-enqueue)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stmt = (
        select(Job.id)
        .where(Job.status == JobStatus.queued.value, Job.updated_at < cutoff)
        .order_by(Job.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def find_expired_leases(session: Session, *, limit: int = 100) -> list[uuid.UUID]:
    """Ids of processing jobs whose lease expired (their worker died), oldest first."""
    stmt = (
        select(Job.id)
        .where(Job.status == JobStatus.processing.value, _lease_expired(utcnow()))
        .order_by(Job.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _transition(
    session: Session,
    job_id: uuid.UUID,
    guard: list[ColumnElement[bool]],
    **values: Any,
) -> Job | None:
    stmt = (
        update(Job)
        .where(Job.id == job_id, *guard)
        .values(**values)
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def _sources(target: JobStatus) -> list[str]:
    """Statuses from which `target` may be reached, per `TRANSITIONS`."""
    return [status.value for status, targets in TRANSITIONS.items() if target in targets]


def _fence(attempt: int | None) -> list[ColumnElement[bool]]:
    return [] if attempt is None else [Job.attempts == attempt]


def _lease_expired(now: datetime) -> ColumnElement[bool]:
    return or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)


def _at(moment: datetime) -> ColumnElement[datetime]:
    """A bound timestamp typed like the columns (so SQLite stores it in the same format)."""
    return literal(moment, UTCDateTime())

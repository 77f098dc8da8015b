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

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, update
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
    "mark_deleted",
    "mark_expired",
    "mark_failed",
    "mark_succeeded",
    "release_for_retry",
    "renew_lease",
    "update_progress",
]

ERROR_MESSAGE_MAX_CHARS = 4000
_NO_RETRY = {"retry_reason": None, "next_retry_at": None, "retrying_since": None}

TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.succeeded, JobStatus.failed, JobStatus.deleted, JobStatus.expired}
)

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.processing, JobStatus.failed, JobStatus.deleted}),
    # processing -> processing: a redelivered task reclaims a job whose lease expired;
    # processing -> retrying: the worker waits out an outage, or hands the job back when it
    # shuts down; the same attempt continues later (retrying -> processing).
    JobStatus.processing: frozenset(
        {
            JobStatus.processing,
            JobStatus.retrying,
            JobStatus.succeeded,
            JobStatus.failed,
            JobStatus.deleted,
        }
    ),
    JobStatus.retrying: frozenset({JobStatus.processing, JobStatus.failed, JobStatus.deleted}),
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
    continue_attempt: int | None = None,
    lease_token: str | None = None,
) -> Job | None:
    """Take a queued job, or a processing one whose lease expired, for one more attempt.

    Refused once `attempts` reached `max_attempts` (default `settings.JOB_MAX_ATTEMPTS`).
    On success the job is processing, holds a lease until now + `lease_s`, and the returned
    row's `attempts` is this attempt's number.

    With `continue_attempt`, take the job back for that same attempt after a wait: it is
    `retrying`, or still `processing` if the release could not be written (the database was
    down), under an expired lease or under the lease of the claim `lease_token` names (this
    same chain's earlier claim). The attempt count and the progress stay, so an outage or a
    shutdown costs no attempt. Every claim gets a new `lease_token`.
    """
    now = utcnow()
    token = secrets.token_hex(16)
    if continue_attempt is not None:
        ours = [_lease_expired(now)] + ([Job.lease_token == lease_token] if lease_token else [])
        return _transition(
            session,
            job_id,
            [
                or_(
                    Job.status == JobStatus.retrying.value,
                    and_(Job.status == JobStatus.processing.value, or_(*ours)),
                ),
                Job.attempts == continue_attempt,
            ],
            status=JobStatus.processing.value,
            worker_host=worker_host,
            lease_expires_at=now + timedelta(seconds=lease_s),
            lease_token=token,
            retry_reason=None,
            next_retry_at=None,
            updated_at=now,
        )
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
        lease_token=token,
        progress=0,
        updated_at=now,
    )
    if job is not None and job.queue_wait_s is None and job.started_at is not None:
        job.queue_wait_s = max(0.0, (job.started_at - job.created_at).total_seconds())
    return job


def release_for_retry(
    session: Session,
    job_id: uuid.UUID,
    *,
    attempt: int,
    reason: str,
    next_retry_at: datetime,
) -> Job | None:
    """Let go of a processing job until `next_retry_at`, when the same attempt continues
    (`claim_job(continue_attempt=...)`). `retrying_since` keeps the start of the first wait."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status == JobStatus.processing.value, Job.attempts == attempt],
        status=JobStatus.retrying.value,
        lease_expires_at=None,
        retry_reason=reason[:ERROR_MESSAGE_MAX_CHARS],
        next_retry_at=next_retry_at,
        retrying_since=func.coalesce(Job.retrying_since, _at(now)),
        updated_at=now,
    )


def renew_lease(session: Session, job_id: uuid.UUID, *, attempt: int, lease_s: float) -> bool:
    """Extend the lease of a processing attempt; `False` means the job is no longer ours."""
    now = utcnow()
    job = _transition(
        session,
        job_id,
        [Job.status == JobStatus.processing.value, Job.attempts == attempt],
        lease_expires_at=now + timedelta(seconds=lease_s),
        updated_at=now,
    )
    return job is not None


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
    output_keys: dict[str, str],
    output_exports: dict[str, Any] | None = None,
    analysis: dict[str, Any] | None = None,
    processing_time_s: float | None = None,
    attempt: int | None = None,
) -> Job | None:
    """Finish a processing job successfully with its outputs (`{output name: storage key}`),
    metrics and analysis summary (progress 100)."""
    now = utcnow()
    return _transition(
        session,
        job_id,
        [Job.status.in_(_sources(JobStatus.succeeded)), *_fence(attempt)],
        status=JobStatus.succeeded.value,
        progress=100,
        metrics=metrics,
        output_keys=output_keys,
        output_exports=output_exports,
        analysis=analysis,
        processing_time_s=processing_time_s,
        error_code=None,
        error_message=None,
        finished_at=now,
        lease_expires_at=None,
        **_NO_RETRY,
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
        **_NO_RETRY,
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

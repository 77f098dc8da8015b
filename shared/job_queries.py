"""Which jobs need attention: message-less ones for the reconciler, old ones for the
retention purge. Read-only queries (plus the note that a message was sent)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from shared.models import Job, JobStatus, utcnow
from shared.states import TRANSITIONS

BATCH = 100


def find_unclaimed_queued(
    session: Session, older_than_s: float, *, limit: int = BATCH
) -> list[tuple[uuid.UUID, datetime | None]]:
    """Queued jobs submitted more than `older_than_s` ago whose message was not sent since:
    (id, when it was last sent or None), oldest first."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    stmt = (
        select(Job.id, Job.enqueued_at)
        .where(
            Job.status == JobStatus.queued.value, Job.created_at < cutoff, _not_sent_since(cutoff)
        )
        .order_by(Job.created_at)
        .limit(limit)
    )
    return [(job_id, enqueued) for job_id, enqueued in session.execute(stmt)]


def find_expired_leases(
    session: Session, *, expired_for_s: float = 0, resend_after_s: float = 0, limit: int = BATCH
) -> list[uuid.UUID]:
    """Processing jobs whose lease expired more than `expired_for_s` ago (their worker died,
    or could not renew it through a database outage and gets that long to take it back),
    oldest first, unless their message was sent in the last `resend_after_s`."""
    now = utcnow()
    stmt = (
        select(Job.id)
        .where(
            Job.status == JobStatus.processing.value,
            or_(
                Job.lease_expires_at.is_(None),
                Job.lease_expires_at < now - timedelta(seconds=expired_for_s),
            ),
            _not_sent_since(now - timedelta(seconds=resend_after_s)),
        )
        .order_by(Job.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def find_overdue_retries(
    session: Session, late_by_s: float, *, limit: int = BATCH
) -> list[tuple[uuid.UUID, int]]:
    """Retrying jobs whose next try is more than `late_by_s` overdue (the worker holding the
    continuation is gone): (id, the attempt to continue)."""
    cutoff = utcnow() - timedelta(seconds=late_by_s)
    stmt = (
        select(Job.id, Job.attempts)
        .where(
            Job.status == JobStatus.retrying.value,
            Job.next_retry_at < cutoff,
            _not_sent_since(cutoff),
        )
        .order_by(Job.next_retry_at)
        .limit(limit)
    )
    return [(job_id, attempts) for job_id, attempts in session.execute(stmt)]


def mark_enqueued(session: Session, job_ids: list[uuid.UUID]) -> None:
    """Note that the jobs' messages were just sent."""
    session.execute(update(Job).where(Job.id.in_(job_ids)).values(enqueued_at=utcnow()))


def find_expired_retention(
    session: Session, finished_before: datetime, *, limit: int = BATCH
) -> list[uuid.UUID]:
    """Ids of succeeded or failed jobs that finished before `finished_before`, oldest first.

    On Postgres the rows are locked (`SKIP LOCKED`) so that workers purging at the same time
    take different jobs.
    """
    sources = [
        status.value for status, targets in TRANSITIONS.items() if JobStatus.expired in targets
    ]
    stmt = (
        select(Job.id)
        .where(Job.status.in_(sources), Job.finished_at < finished_before)
        .order_by(Job.finished_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _not_sent_since(cutoff: datetime) -> ColumnElement[bool]:
    return or_(Job.enqueued_at.is_(None), Job.enqueued_at < cutoff)

"""The segments of a split job (`JobSegment`), and their guarded transitions in SQL.

As in `shared.states`, each transition is one `UPDATE ... WHERE <guard> RETURNING`, so of two
workers racing for a segment one wins. Every transition is also fenced by the job: it only
happens while the job is still `processing` (or `retrying`: its coordinator waits out an
outage and continues the same attempt) with `attempts` equal to the segment's attempt. A
deleted job, or one taken over by a newer attempt, stops its segments at their next write.

    queued --claim--> processing --finish--> done
      ^                   |  \\--fail--> failed      (bad input: the job fails with its code)
      |---- release ------|                          (shutdown, an outage: another takes it)
    processing with an expired lease can be claimed again (its worker died); each claim
    counts a try, and a segment is not claimed after `max_tries`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared.models import Job, JobSegment, JobStatus, SegmentStatus, utcnow
from shared.states import ERROR_MESSAGE_MAX_CHARS


def create_segments(
    session: Session, job_id: uuid.UUID, attempt: int, segments: list[dict[str, Any]]
) -> None:
    """Insert the attempt's segments (dicts of `Segment` fields) unless they exist already:
    a continued attempt keeps the segments that are done."""
    if not segments:
        return
    now = utcnow()
    rows = [
        {
            **segment,
            "job_id": job_id,
            "attempt": attempt,
            "status": SegmentStatus.queued.value,
            "frames_done": 0,
            "tries": 0,
            "updated_at": now,
        }
        for segment in segments
    ]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(JobSegment).values(rows).on_conflict_do_nothing())


def segments_of(session: Session, job_id: uuid.UUID, attempt: int) -> list[JobSegment]:
    """The attempt's segments in order."""
    return list(
        session.scalars(
            select(JobSegment)
            .where(JobSegment.job_id == job_id, JobSegment.attempt == attempt)
            .order_by(JobSegment.index)
            .execution_options(populate_existing=True)
        )
    )


def claim_segment(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    worker_host: str,
    lease_s: float,
    max_tries: int,
    index: int | None = None,
) -> JobSegment | None:
    """Take segment `index` (None: the first one free) for processing: it is queued, or its
    worker's lease expired. Returns the row with a new `lease_token`, or None."""
    now = utcnow()
    free = and_(_free(now), JobSegment.tries < max_tries)
    which = select(JobSegment.index).where(
        JobSegment.job_id == job_id, JobSegment.attempt == attempt, free, _job_alive()
    )
    if index is not None:
        which = which.where(JobSegment.index == index)
    chosen = session.scalar(which.order_by(JobSegment.index).limit(1))
    if chosen is None:
        return None
    return _transition(
        session,
        job_id,
        attempt,
        chosen,
        [free],
        status=SegmentStatus.processing.value,
        tries=JobSegment.tries + 1,
        worker_host=worker_host,
        lease_token=secrets.token_hex(16),
        lease_expires_at=now + timedelta(seconds=lease_s),
        frames_done=0,
        updated_at=now,
    )


def renew_segment(
    session: Session, segment: JobSegment, *, frames_done: int, lease_s: float
) -> bool:
    """Record the segment's frames done and extend its lease; False: no longer ours (its job
    was deleted or moved to another attempt, or the segment was taken over)."""
    now = utcnow()
    return _held_transition(
        session,
        segment,
        frames_done=max(0, frames_done),
        lease_expires_at=now + timedelta(seconds=lease_s),
        updated_at=now,
    )


def finish_segment(session: Session, segment: JobSegment) -> bool:
    """The segment's outputs are stored: done (False: no longer ours)."""
    now = utcnow()
    return _held_transition(
        session,
        segment,
        status=SegmentStatus.done.value,
        frames_done=JobSegment.frames,
        lease_expires_at=None,
        updated_at=now,
    )


def fail_segment(session: Session, segment: JobSegment, *, code: str, message: str) -> bool:
    """The segment cannot be processed (bad input): failed, and so will be its job."""
    now = utcnow()
    return _held_transition(
        session,
        segment,
        status=SegmentStatus.failed.value,
        error_code=code,
        error_message=message[:ERROR_MESSAGE_MAX_CHARS],
        lease_expires_at=None,
        updated_at=now,
    )


def release_segment(session: Session, segment: JobSegment) -> bool:
    """Give the segment back at once (the worker shuts down, or an outage): queued again,
    for any worker to take; the try it used still counts."""
    now = utcnow()
    return _held_transition(
        session,
        segment,
        status=SegmentStatus.queued.value,
        lease_token=None,
        lease_expires_at=None,
        updated_at=now,
    )


def exhausted_segment(
    session: Session, job_id: uuid.UUID, attempt: int, *, max_tries: int
) -> JobSegment | None:
    """A segment of the attempt that is free but may not be claimed again: its `max_tries`
    are used up (its workers kept dying, or it kept failing)."""
    return session.scalars(
        select(JobSegment)
        .where(
            JobSegment.job_id == job_id,
            JobSegment.attempt == attempt,
            _free(utcnow()),
            JobSegment.tries >= max_tries,
        )
        .order_by(JobSegment.index)
        .limit(1)
    ).first()


def frames_done(session: Session, job_id: uuid.UUID, attempt: int) -> tuple[int, int]:
    """(frames done, frames) over the attempt's segments: the job's progress."""
    done, total = session.execute(
        select(
            func.coalesce(func.sum(JobSegment.frames_done), 0),
            func.coalesce(func.sum(JobSegment.frames), 0),
        ).where(JobSegment.job_id == job_id, JobSegment.attempt == attempt)
    ).one()
    return int(done), int(total)


def _held_transition(session: Session, segment: JobSegment, **values: Any) -> bool:
    """A transition of a segment this worker holds (its claim's `lease_token`); False: it is
    no longer held by it."""
    held = [
        JobSegment.status == SegmentStatus.processing.value,
        JobSegment.lease_token == segment.lease_token,
    ]
    row = _transition(session, segment.job_id, segment.attempt, segment.index, held, **values)
    return row is not None


def _free(now: datetime) -> ColumnElement[bool]:
    """Not held by a live worker: queued, or processing under an expired lease."""
    return or_(
        JobSegment.status == SegmentStatus.queued.value,
        and_(
            JobSegment.status == SegmentStatus.processing.value,
            or_(JobSegment.lease_expires_at.is_(None), JobSegment.lease_expires_at < now),
        ),
    )


def _job_alive() -> ColumnElement[bool]:
    """The segment's job is still at the segment's attempt, and not finished or deleted."""
    return exists().where(
        Job.id == JobSegment.job_id,
        Job.attempts == JobSegment.attempt,
        Job.status.in_([JobStatus.processing.value, JobStatus.retrying.value]),
    )


def _transition(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    index: int,
    guard: list[ColumnElement[bool]],
    **values: Any,
) -> JobSegment | None:
    stmt = (
        update(JobSegment)
        .where(
            JobSegment.job_id == job_id,
            JobSegment.attempt == attempt,
            JobSegment.index == index,
            _job_alive(),
            *guard,
        )
        .values(**values)
        .returning(JobSegment)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()

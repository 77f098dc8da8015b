"""Whether a submission may become a job, decided in worker threads: the tenant's quota of
jobs in flight (`MAX_JOBS_IN_FLIGHT`, 429 `too_many_jobs`) and its Idempotency-Keys (24 h; a
replay asking something else is 422 `idempotency_key_reused`), both checked again under a
lock on the tenant's row when the job is inserted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from api.auth import Caller
from api.errors import APIError
from shared.db import session_scope
from shared.models import Job, Tenant, utcnow
from shared.states import JobStatus

IDEMPOTENCY_WINDOW = timedelta(hours=24)
IN_FLIGHT = (JobStatus.queued.value, JobStatus.processing.value)


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool


class Duplicate(Exception):
    """The insert lost to an earlier job: the same Idempotency-Key, or the same upload."""

    def __init__(self, earlier: Job | None):
        self.earlier = earlier


def find_by_key(tenant_id: uuid.UUID, key: str) -> Job | None:
    """The tenant's job submitted with this Idempotency-Key in the last 24 h."""
    with session_scope() as session:
        return _earlier_with_key(session, tenant_id, key)


def _earlier_with_key(session, tenant_id: uuid.UUID, key: str) -> Job | None:
    return session.scalars(
        select(Job).where(
            Job.tenant_id == tenant_id,
            Job.idempotency_key == key,
            Job.created_at > utcnow() - IDEMPOTENCY_WINDOW,
        )
    ).one_or_none()


def replay(earlier: Job, asked: str) -> Submitted:
    if earlier.idempotency_fingerprint != asked:
        raise APIError(
            422,
            "idempotency_key_reused",
            f"this Idempotency-Key was used for job {earlier.id} with a different request "
            "(file or upload, webhook_url or options); use a new key for a new job",
        )
    return Submitted(earlier, replayed=True)


def _in_flight(session, tenant_id: uuid.UUID) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant_id, Job.status.in_(IN_FLIGHT))
    )
    return int(count or 0)


def _too_many_jobs(limit: int) -> APIError:
    return APIError(
        429,
        "too_many_jobs",
        f"this tenant already has {limit} jobs queued or processing; "
        "submit more when some have finished",
        headers={"Retry-After": "30"},
    )


def check_in_flight(caller: Caller, limit: int) -> None:
    """Early refusal, before an upload is read; `insert_job` checks again under a lock."""
    with session_scope() as session:
        if _in_flight(session, caller.tenant_id) >= limit:
            raise _too_many_jobs(limit)


def own_job_exists(caller: Caller, job_id: uuid.UUID) -> bool:
    with session_scope() as session:
        found = session.scalar(
            select(Job.id).where(Job.id == job_id, Job.tenant_id == caller.tenant_id)
        )
        return found is not None


def insert_job(job: Job, max_in_flight: int) -> Job:
    """Commit the job, under a lock on its tenant's row so that concurrent submissions of
    one tenant count jobs in flight and look up idempotency keys one after the other."""
    try:
        with session_scope() as session:
            session.execute(select(Tenant.id).where(Tenant.id == job.tenant_id).with_for_update())
            if job.idempotency_key:
                earlier = _earlier_with_key(session, job.tenant_id, job.idempotency_key)
                if earlier is not None:
                    session.expunge(earlier)  # keep its loaded values through the rollback
                    raise Duplicate(earlier)
                # a key older than the window is free again: the old job lets go of it
                session.execute(
                    update(Job)
                    .where(
                        Job.tenant_id == job.tenant_id,
                        Job.idempotency_key == job.idempotency_key,
                    )
                    .values(idempotency_key=None)
                )
            if _in_flight(session, job.tenant_id) >= max_in_flight:
                raise _too_many_jobs(max_in_flight)
            session.add(job)
    except IntegrityError:  # the same upload id; or on SQLite (no row lock) the same key
        key = job.idempotency_key
        raise Duplicate(find_by_key(job.tenant_id, key) if key else None) from None
    return job

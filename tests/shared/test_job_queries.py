"""Which jobs need attention (`shared/job_queries.py`), on Postgres and SQLite."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from shared import job_queries, states
from shared.models import Job, utcnow
from tests.job_rows import new_job

LEASE_S = 60


def set_values(session_scope, job_id: uuid.UUID, **values) -> None:
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def claim(session_scope, job_id: uuid.UUID) -> None:
    with session_scope() as session:
        states.claim_job(session, job_id, worker_host="w", lease_s=LEASE_S)


def test_queued_jobs_not_sent_lately_are_found_oldest_first(any_db):
    long_ago = utcnow() - timedelta(hours=1)
    older = new_job(any_db, created_at=long_ago)  # never sent
    old = new_job(
        any_db,
        created_at=long_ago + timedelta(minutes=1),
        enqueued_at=long_ago + timedelta(minutes=1),
    )
    new_job(any_db)  # fresh
    new_job(any_db, created_at=long_ago, enqueued_at=utcnow())  # sent again just now
    started = new_job(any_db, created_at=long_ago)
    claim(any_db, started)

    with any_db() as session:
        found = job_queries.find_unclaimed_queued(session, older_than_s=60)

    assert [job_id for job_id, _ in found] == [older, old]
    assert found[0][1] is None and found[1][1] is not None


def test_jobs_with_expired_leases_are_found_unless_just_resent(any_db):
    dead, alive, resent = new_job(any_db), new_job(any_db), new_job(any_db)
    for job_id in (dead, alive, resent):
        claim(any_db, job_id)
    past = utcnow() - timedelta(seconds=1)
    set_values(any_db, dead, lease_expires_at=past)
    set_values(any_db, resent, lease_expires_at=past, enqueued_at=utcnow())

    with any_db() as session:
        assert job_queries.find_expired_leases(session, resend_after_s=60) == [dead]


def test_overdue_retries_are_found_with_the_attempt_to_continue(any_db):
    overdue, due_soon = new_job(any_db), new_job(any_db)
    for job_id in (overdue, due_soon):
        claim(any_db, job_id)
        with any_db() as session:
            states.release_for_retry(
                session,
                job_id,
                attempt=1,
                reason="storage unavailable",
                next_retry_at=utcnow() + timedelta(seconds=30),
            )
    set_values(any_db, overdue, next_retry_at=utcnow() - timedelta(minutes=10))

    with any_db() as session:
        found = job_queries.find_overdue_retries(session, late_by_s=60)
    with any_db() as session:
        job_queries.mark_enqueued(session, [overdue])
    with any_db() as session:
        again = job_queries.find_overdue_retries(session, late_by_s=60)

    assert found == [(overdue, 1)]
    assert again == []  # just sent: given the time to be claimed


def test_jobs_finished_before_the_cutoff_are_found_oldest_first_and_expire(any_db):
    now = utcnow()
    old = new_job(any_db, status="succeeded", finished_at=now - timedelta(days=40))
    older = new_job(any_db, status="failed", finished_at=now - timedelta(days=50))
    new_job(any_db, status="succeeded", finished_at=now - timedelta(days=1))
    new_job(any_db, status="processing")
    new_job(any_db, status="deleted", finished_at=now - timedelta(days=60))

    with any_db() as session:
        found = job_queries.find_expired_retention(session, now - timedelta(days=30))
    with any_db() as session:
        expired = states.mark_expired(session, old)
    with any_db() as session:
        again = states.mark_expired(session, old)

    assert found == [older, old]
    assert expired is not None and expired.status == "expired" and expired.expired_at
    assert again is None  # already expired

"""The lease keeper (`worker/lease.py`): the lease stays alive through long steps (a slow
transfer holds no progress callback), and a job that stops being ours is noticed."""

from __future__ import annotations

import time
import uuid

from shared.models import Job, utcnow
from shared.states import claim_job, mark_deleted
from tests.job_rows import new_job
from worker.lease import LeaseKeeper


def claimed_job(session_scope, lease_s: float) -> uuid.UUID:
    job_id = new_job(session_scope)
    with session_scope() as session:
        claim_job(session, job_id, worker_host="w", lease_s=lease_s)
    return job_id


def lease_left_s(session_scope, job_id: uuid.UUID) -> float:
    with session_scope() as session:
        return (session.get_one(Job, job_id).lease_expires_at - utcnow()).total_seconds()


def test_the_lease_outlives_a_step_longer_than_itself(any_db):
    job_id = claimed_job(any_db, lease_s=3)

    with LeaseKeeper(job_id, attempt=1, lease_s=3) as lease:
        time.sleep(5)  # e.g. an upload of several minutes, at scale

    assert lease_left_s(any_db, job_id) > 0
    assert not lease.lost.is_set()


def test_a_job_deleted_meanwhile_is_noticed(any_db):
    job_id = claimed_job(any_db, lease_s=3)

    with LeaseKeeper(job_id, attempt=1, lease_s=3) as lease:
        with any_db() as session:
            mark_deleted(session, job_id)
        assert lease.lost.wait(5)

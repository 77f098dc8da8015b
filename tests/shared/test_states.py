"""Job states: the transition table, and the guarded transitions on Postgres and SQLite."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shared import states
from shared.models import Job, WebhookDelivery, utcnow
from shared.states import TERMINAL, JobStatus, can_transition
from tests.job_rows import new_job

LEASE_S = 60
MAX_ATTEMPTS = 3
OUTPUTS = {
    "output_keys": {
        "video": "outputs/x/annotated.mp4",
        "keypoints": "outputs/x/keypoints.json",
        "summary": "outputs/x/summary.json",
    }
}


def load(session_scope, job_id: uuid.UUID) -> Job:
    with session_scope() as session:
        return session.get_one(Job, job_id)


def claim(session_scope, job_id: uuid.UUID, host: str = "worker-1") -> Job | None:
    with session_scope() as session:
        return states.claim_job(
            session, job_id, worker_host=host, lease_s=LEASE_S, max_attempts=MAX_ATTEMPTS
        )


def expire_lease(session_scope, job_id: uuid.UUID) -> None:
    with session_scope() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def set_status(session_scope, job_id: uuid.UUID, status: JobStatus) -> None:
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status.value))


# --- the transition table (pure) ----------------------------------------------------------


def test_queued_job_can_start_fail_or_be_deleted():
    assert can_transition("queued", "processing")
    assert can_transition("queued", "failed")
    assert can_transition("queued", "deleted")
    assert not can_transition("queued", "succeeded")


def test_only_a_processing_job_can_succeed():
    assert [s for s in JobStatus if can_transition(s, JobStatus.succeeded)] == [
        JobStatus.processing
    ]


def test_processing_job_can_be_reclaimed_or_released_for_a_retry():
    assert can_transition(JobStatus.processing, JobStatus.processing)
    assert can_transition(JobStatus.processing, JobStatus.retrying)
    assert not can_transition(JobStatus.processing, JobStatus.queued)


def test_a_retrying_job_continues_fails_or_is_deleted():
    assert [s for s in JobStatus if can_transition(JobStatus.retrying, s)] == [
        JobStatus.processing,
        JobStatus.failed,
        JobStatus.deleted,
    ]


@pytest.mark.parametrize("status", [JobStatus.succeeded, JobStatus.failed])
def test_finished_job_can_only_be_deleted_or_expire(status):
    assert [target for target in JobStatus if can_transition(status, target)] == [
        JobStatus.deleted,
        JobStatus.expired,
    ]


def test_an_expired_job_can_still_be_deleted():
    assert [t for t in JobStatus if can_transition(JobStatus.expired, t)] == [JobStatus.deleted]


def test_deleted_is_final():
    assert not any(can_transition(JobStatus.deleted, target) for target in JobStatus)


def test_terminal_states_are_succeeded_failed_deleted_and_expired():
    assert {"succeeded", "failed", "deleted", "expired"} == TERMINAL


def test_unknown_status_cannot_transition():
    assert not can_transition("queued", "paused")
    assert not can_transition("paused", "queued")


def test_status_check_constraint_lists_every_status():
    constraint = next(c for c in Job.__table__.constraints if c.name == "ck_jobs_status")
    assert all(f"'{status.value}'" in str(constraint.sqltext) for status in JobStatus)


# --- claiming -----------------------------------------------------------------------------


def test_claim_starts_a_queued_job(any_db):
    job_id = new_job(any_db)

    job = claim(any_db, job_id)

    assert job is not None
    assert job.status == JobStatus.processing
    assert job.attempts == 1
    assert job.worker_host == "worker-1"
    assert job.progress == 0
    assert job.started_at is not None and job.queue_wait_s is not None
    assert job.lease_expires_at > utcnow() + timedelta(seconds=LEASE_S - 10)


def test_claim_of_a_job_under_a_live_lease_is_refused(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id, host="worker-1")

    assert claim(any_db, job_id, host="worker-2") is None
    assert load(any_db, job_id).worker_host == "worker-1"


def test_reclaim_after_lease_expiry_counts_another_attempt(any_db):
    job_id = new_job(any_db)
    first = claim(any_db, job_id, host="worker-1")
    expire_lease(any_db, job_id)

    second = claim(any_db, job_id, host="worker-2")

    assert second is not None
    assert second.attempts == 2
    assert second.worker_host == "worker-2"
    assert second.started_at == first.started_at
    assert second.lease_expires_at > utcnow()


def test_claim_is_refused_once_attempts_are_exhausted(any_db):
    job_id = new_job(any_db, status="processing", attempts=MAX_ATTEMPTS)
    expire_lease(any_db, job_id)

    assert claim(any_db, job_id) is None
    assert load(any_db, job_id).attempts == MAX_ATTEMPTS


def test_claim_of_unknown_job_returns_none(any_db):
    assert claim(any_db, uuid.uuid4()) is None


def release(
    session_scope,
    job_id: uuid.UUID,
    attempt: int,
    *,
    in_s: float = 5,
    reason: str = "storage unavailable",
) -> Job | None:
    with session_scope() as session:
        return states.release_for_retry(
            session,
            job_id,
            attempt=attempt,
            reason=reason,
            next_retry_at=utcnow() + timedelta(seconds=in_s),
        )


def test_a_released_attempt_waits_with_its_reason_and_continues_without_a_new_attempt(any_db):
    job_id = new_job(any_db)
    first = claim(any_db, job_id)
    with any_db() as session:
        states.update_progress(session, job_id, 40, lease_s=LEASE_S, attempt=1)
    released = release(any_db, job_id, first.attempts)

    assert (released.status, released.attempts, released.lease_expires_at) == ("retrying", 1, None)
    assert released.retry_reason == "storage unavailable"
    assert released.next_retry_at > utcnow() and released.retrying_since is not None
    assert claim(any_db, job_id) is None  # a plain message does not take a retrying job
    with any_db() as session:
        again = states.claim_job(
            session, job_id, worker_host="worker-2", lease_s=LEASE_S, continue_attempt=1
        )
    assert (again.status, again.attempts, again.progress) == ("processing", 1, 40)
    assert again.retry_reason is None and again.next_retry_at is None
    assert again.retrying_since == released.retrying_since  # the outage window's start


def test_a_second_wait_keeps_the_start_of_the_first(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)
    first = release(any_db, job_id, 1)
    with any_db() as session:
        states.claim_job(session, job_id, worker_host="w", lease_s=LEASE_S, continue_attempt=1)

    second = release(any_db, job_id, 1, reason="the database unavailable")

    assert second.retrying_since == first.retrying_since
    assert second.retry_reason == "the database unavailable"


def test_the_chain_that_holds_the_lease_continues_at_once_and_no_one_else(any_db):
    job_id = new_job(any_db)
    first = claim(any_db, job_id)  # its release could not be written: the lease is live

    def continue_with(token: str | None) -> Job | None:
        with any_db() as session:
            return states.claim_job(
                session,
                job_id,
                worker_host="w",
                lease_s=LEASE_S,
                continue_attempt=1,
                lease_token=token,
            )

    assert continue_with("someone-elses") is None
    assert continue_with(None) is None
    again = continue_with(first.lease_token)
    assert again.attempts == 1 and again.lease_token != first.lease_token
    assert continue_with(first.lease_token) is None  # that claim no longer holds it


def test_continuing_needs_the_same_attempt_and_no_live_lease(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)  # attempt 1, under a live lease (its release was never written)

    def continue_attempt(n: int) -> Job | None:
        with any_db() as session:
            return states.claim_job(
                session, job_id, worker_host="w", lease_s=LEASE_S, continue_attempt=n
            )

    assert continue_attempt(1) is None  # the lease is still alive
    expire_lease(any_db, job_id)
    assert continue_attempt(2) is None  # not its attempt
    assert continue_attempt(1).attempts == 1


def test_finishing_clears_the_wait(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)
    release(any_db, job_id, 1)
    with any_db() as session:
        failed = states.mark_failed(
            session, job_id, code="dependency_unavailable", message="gave up", attempt=1
        )

    assert failed.status == "failed"
    assert (failed.retry_reason, failed.next_retry_at, failed.retrying_since) == (None, None, None)


def test_a_lease_is_renewed_only_for_its_attempt(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)
    expire_lease(any_db, job_id)

    with any_db() as session:
        renewed = states.renew_lease(session, job_id, attempt=1, lease_s=LEASE_S)
    with any_db() as session:
        stale = states.renew_lease(session, job_id, attempt=2, lease_s=LEASE_S)

    assert (renewed, stale) == (True, False)
    assert load(any_db, job_id).lease_expires_at > utcnow()


def test_concurrent_claims_have_exactly_one_winner(any_db):
    job_id = new_job(any_db)
    contenders = 8
    barrier = threading.Barrier(contenders)
    results: list[Job | None] = []

    def contend(host: str) -> None:
        barrier.wait()
        results.append(claim(any_db, job_id, host=host))

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [job for job in results if job is not None]
    assert len(results) == contenders
    assert len(winners) == 1
    assert load(any_db, job_id).attempts == 1
    assert load(any_db, job_id).worker_host == winners[0].worker_host


def test_claim_waits_for_a_competing_uncommitted_claim_and_loses(any_db):
    job_id = new_job(any_db)
    results: list[Job | None] = []
    with any_db() as session:
        assert states.claim_job(session, job_id, worker_host="a", lease_s=LEASE_S) is not None
        rival = threading.Thread(target=lambda: results.append(claim(any_db, job_id, host="b")))
        rival.start()
        rival.join(timeout=0.5)
        assert rival.is_alive(), "the rival claim should wait for our uncommitted claim"
    rival.join(timeout=30)

    assert results == [None]
    assert load(any_db, job_id).worker_host == "a"


# --- running out of attempts --------------------------------------------------------------


def test_exhausted_job_with_expired_lease_is_failed(any_db):
    job_id = new_job(any_db, status="processing", attempts=MAX_ATTEMPTS)
    expire_lease(any_db, job_id)

    with any_db() as session:
        job = states.fail_exhausted(session, job_id, max_attempts=MAX_ATTEMPTS)

    assert job is not None
    assert job.status == JobStatus.failed
    assert job.error_code == "attempts_exhausted"
    assert job.finished_at is not None


def test_exhausted_job_still_under_lease_is_left_running(any_db):
    job_id = new_job(any_db)
    for _ in range(MAX_ATTEMPTS - 1):
        claim(any_db, job_id)
        expire_lease(any_db, job_id)
    claim(any_db, job_id)

    with any_db() as session:
        assert states.fail_exhausted(session, job_id, max_attempts=MAX_ATTEMPTS) is None
    assert load(any_db, job_id).status == JobStatus.processing


def test_job_with_attempts_left_is_not_failed_as_exhausted(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)
    expire_lease(any_db, job_id)

    with any_db() as session:
        assert states.fail_exhausted(session, job_id, max_attempts=MAX_ATTEMPTS) is None


# --- progress -----------------------------------------------------------------------------


def test_progress_never_goes_backwards(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)

    with any_db() as session:
        assert states.update_progress(session, job_id, 40, lease_s=LEASE_S)
        assert states.update_progress(session, job_id, 25, lease_s=LEASE_S)

    assert load(any_db, job_id).progress == 40


def test_progress_is_clamped_to_0_100(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)

    with any_db() as session:
        states.update_progress(session, job_id, 250, lease_s=LEASE_S)

    assert load(any_db, job_id).progress == 100


def test_progress_extends_the_lease(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)
    expire_lease(any_db, job_id)

    with any_db() as session:
        states.update_progress(session, job_id, 10, lease_s=LEASE_S)

    assert load(any_db, job_id).lease_expires_at > utcnow()


def test_progress_of_a_queued_job_is_ignored(any_db):
    job_id = new_job(any_db)

    with any_db() as session:
        assert not states.update_progress(session, job_id, 50, lease_s=LEASE_S)

    assert load(any_db, job_id).progress == 0


def test_worker_that_lost_its_job_cannot_write_to_it(any_db):
    job_id = new_job(any_db)
    stale = claim(any_db, job_id, host="worker-1")
    expire_lease(any_db, job_id)
    claim(any_db, job_id, host="worker-2")

    with any_db() as session:
        assert not states.update_progress(
            session, job_id, 90, lease_s=LEASE_S, attempt=stale.attempts
        )
        assert (
            states.mark_succeeded(session, job_id, metrics={}, attempt=stale.attempts, **OUTPUTS)
            is None
        )

    assert load(any_db, job_id).status == JobStatus.processing


# --- finishing ----------------------------------------------------------------------------


def test_success_records_outputs_metrics_and_full_progress(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)

    with any_db() as session:
        job = states.mark_succeeded(
            session,
            job_id,
            metrics={"total_frames": 10, "detection_rate": 0.9},
            processing_time_s=1.5,
            **OUTPUTS,
        )

    assert job is not None
    stored = load(any_db, job_id)
    assert stored.status == JobStatus.succeeded
    assert stored.progress == 100
    assert stored.metrics == {"total_frames": 10, "detection_rate": 0.9}
    assert stored.output_keys == OUTPUTS["output_keys"]
    assert stored.processing_time_s == 1.5
    assert stored.finished_at is not None and stored.lease_expires_at is None


def test_queued_job_cannot_succeed(any_db):
    job_id = new_job(any_db)

    with any_db() as session:
        assert states.mark_succeeded(session, job_id, metrics={}, **OUTPUTS) is None


def test_queued_job_can_fail(any_db):
    job_id = new_job(any_db)

    with any_db() as session:
        job = states.mark_failed(session, job_id, code="input_missing", message="no upload")

    assert job is not None
    assert (job.status, job.error_code, job.error_message) == (
        JobStatus.failed,
        "input_missing",
        "no upload",
    )


def test_processing_job_can_fail(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)

    with any_db() as session:
        job = states.mark_failed(session, job_id, code="invalid_video", message="not a video")

    assert job is not None and job.finished_at is not None


@pytest.mark.parametrize("final", [JobStatus.succeeded, JobStatus.failed, JobStatus.deleted])
def test_finished_job_cannot_be_changed_by_a_worker(any_db, final):
    job_id = new_job(any_db, status="processing", attempts=1)
    set_status(any_db, job_id, final)

    with any_db() as session:
        assert not states.update_progress(session, job_id, 50, lease_s=LEASE_S)
        assert states.mark_succeeded(session, job_id, metrics={}, **OUTPUTS) is None
        assert states.mark_failed(session, job_id, code="x", message="y") is None
        assert (
            states.release_for_retry(session, job_id, attempt=1, reason="r", next_retry_at=utcnow())
            is None
        )
        assert not states.renew_lease(session, job_id, attempt=1, lease_s=LEASE_S)
    assert claim(any_db, job_id) is None
    with any_db() as session:
        assert (
            states.claim_job(session, job_id, worker_host="w", lease_s=LEASE_S, continue_attempt=1)
            is None
        )

    assert load(any_db, job_id).status == final


# --- deleting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        JobStatus.queued,
        JobStatus.processing,
        JobStatus.retrying,
        JobStatus.succeeded,
        JobStatus.failed,
    ],
)
def test_any_job_can_be_deleted_once(any_db, status):
    job_id = new_job(any_db, status=status.value)

    with any_db() as session:
        job = states.mark_deleted(session, job_id)
        again = states.mark_deleted(session, job_id)

    assert job is not None and job.status == JobStatus.deleted and job.deleted_at is not None
    assert again is None


def test_deleting_a_job_row_deletes_its_deliveries(any_db):
    job_id = new_job(any_db)
    with any_db() as session:
        session.add(
            WebhookDelivery(
                job_id=job_id, event_type="job.failed", webhook_id="msg_1", attempt=1, url="x"
            )
        )

    with any_db() as session:
        session.delete(session.get_one(Job, job_id))

    with any_db() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []


def test_timestamps_read_back_timezone_aware(any_db):
    job_id = new_job(any_db)
    claim(any_db, job_id)

    job = load(any_db, job_id)

    assert job.created_at.utcoffset() == timedelta(0)
    assert job.started_at.utcoffset() == timedelta(0)

"""Find jobs whose task message is gone, and queue them again: one reconciler at a time.

A job can wait forever without a message: its row was committed but the broker could not be
reached (`enqueued_at` stays empty), the broker lost the message, the worker that took it
died before claiming it or while running it (its lease expired), or the worker holding the
continuation of a `retrying` attempt died. A job merely waiting in a long queue keeps its one
message and is left alone, so the queue depth stays the number of queued jobs.

- Every worker runs the loop; on Postgres a transaction-scoped advisory lock lets one replica
  at a time do a round.
- With a Redis broker the round reads the job ids in the queue and among the delivered,
  unacknowledged messages, and only re-sends what is absent in two rounds running (a message
  being handed to a worker is briefly in neither place). Without one (the local mode's file
  broker) only jobs whose enqueue failed, expired leases and overdue retries are re-sent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from shared.config import settings
from shared.db import session_scope
from shared.job_queries import (
    find_expired_leases,
    find_overdue_retries,
    find_unclaimed_queued,
    mark_enqueued,
)
from shared.queue import QueuedMessages, enqueue_job, queued_messages

log = logging.getLogger(__name__)

LOCK_KEY = 0x64616E6365  # "dance": the advisory lock of the reconciler


@dataclass
class Reconciler:
    """Remembers which jobs looked message-less last round (they are re-sent if they still
    do now)."""

    suspects: set[uuid.UUID] = field(default_factory=set)

    def round(self) -> int:
        """One round, in one transaction (holding the lock); returns the messages sent."""
        with session_scope() as session:
            if not _leader(session):
                return 0
            after = settings.RECONCILE_QUEUED_AFTER_S
            queued = find_unclaimed_queued(session, after)
            # a worker that could not renew its lease through a database outage takes its
            # job back within its longest retry delay: only then is the worker lost
            leases = find_expired_leases(
                session,
                expired_for_s=2 * settings.DEPENDENCY_RETRY_MAX_DELAY_S,
                resend_after_s=after,
            )
            overdue = find_overdue_retries(session, after)
            broker = _broker_view()
            missing = {
                job_id for job_id, enqueued in queued if _message_missing(job_id, enqueued, broker)
            }
            # a lease expired: its worker died, so its unacknowledged message is no sign
            missing |= {
                job_id for job_id in leases if broker is None or str(job_id) not in broker.waiting
            }
            if broker is not None:  # re-send only what was missing last round too
                missing, self.suspects = missing & self.suspects, missing
            to_send = [(job_id, None) for job_id in missing] + overdue
            for job_id, attempt in to_send:  # an overdue retry continues the same attempt
                enqueue_job(job_id, continue_attempt=attempt)
            mark_enqueued(session, [job_id for job_id, _ in to_send])
        if to_send:
            log.warning("reconciler: re-sent %d job message(s)", len(to_send))
        return len(to_send)


def _message_missing(job_id: uuid.UUID, enqueued: object, broker: QueuedMessages | None) -> bool:
    """Whether a queued job has no message: none was ever sent (no broker view), or it is
    neither waiting nor recently delivered."""
    if broker is None:
        return enqueued is None
    delivered = broker.delivered_at.get(str(job_id))
    return str(job_id) not in broker.waiting and (
        delivered is None or time.time() - delivered > settings.RECONCILE_QUEUED_AFTER_S
    )


def _leader(session) -> bool:
    """Whether this replica may reconcile now (always, without Postgres)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


def _broker_view() -> QueuedMessages | None:
    url = settings.broker_url
    if not url.startswith(("redis://", "rediss://")):
        return None
    return queued_messages(url, settings.CELERY_QUEUE)


def start_reconciler(stop: threading.Event) -> threading.Thread:
    """Run a round every RECONCILE_INTERVAL_S in a daemon thread until `stop`."""
    reconciler = Reconciler()

    def loop() -> None:
        while not stop.wait(settings.RECONCILE_INTERVAL_S):
            try:
                reconciler.round()
            except Exception:  # a database or broker outage: try again next round
                log.exception("reconciler round failed")

    thread = threading.Thread(target=loop, name="reconciler", daemon=True)
    thread.start()
    return thread

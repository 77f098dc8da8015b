"""Find jobs that would otherwise wait forever, and queue them again.

A job stays `queued` forever if the gateway committed its row but could not reach the
broker, and stays `processing` if its worker died without its message coming back. Both
are re-enqueued; the atomic claim makes a duplicate message harmless.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import update

from shared.config import settings
from shared.db import session_scope
from shared.models import Job, utcnow
from shared.queue import enqueue_job
from shared.states import JobStatus, find_expired_leases, find_stale_queued

log = logging.getLogger(__name__)


def reconcile_once() -> int:
    """Re-enqueue stale queued jobs and jobs whose lease expired; returns how many."""
    with session_scope() as session:
        stale = find_stale_queued(session, settings.RECONCILE_QUEUED_AFTER_S)
        if stale:  # touch them so other worker replicas do not enqueue them again right away
            session.execute(update(Job).where(Job.id.in_(stale),
                                              Job.status == JobStatus.queued.value)
                            .values(updated_at=utcnow()))
        expired = find_expired_leases(session)
    for job_id in [*stale, *expired]:
        enqueue_job(job_id)
    if stale or expired:
        log.warning("reconciler: re-enqueued %d queued and %d abandoned jobs",
                    len(stale), len(expired))
    return len(stale) + len(expired)


def start_reconciler(stop: threading.Event) -> threading.Thread:
    """Run `reconcile_once` every RECONCILE_INTERVAL_S in a daemon thread until `stop`."""

    def loop() -> None:
        while not stop.wait(settings.RECONCILE_INTERVAL_S):
            try:
                reconcile_once()
            except Exception:  # a database or broker outage: try again next round
                log.exception("reconciler round failed")

    thread = threading.Thread(target=loop, name="reconciler", daemon=True)
    thread.start()
    return thread

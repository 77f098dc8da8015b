"""The retention purge: after `RETENTION_DAYS`, a finished job's input and outputs are
deleted and the job becomes `expired` (its row stays, for the record and the metrics); a
direct upload no job took is deleted after a day (as the bucket's lifecycle rule also does,
where the storage runs lifecycle rules); a comparison's full report and side-by-side video go
after RETENTION_DAYS too (its summary stays on the row).

Objects are deleted before the row is marked, so a purge cut short is finished by the next
one; on Postgres concurrent purges of several workers take different rows (SKIP LOCKED).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import or_, select, update

from shared.config import Settings, settings
from shared.db import session_scope
from shared.job_queries import find_expired_retention
from shared.models import Comparison, utcnow
from shared.states import mark_expired
from shared.storage import LIFECYCLE_DAYS, Storage, get_storage
from shared.storage_keys import UPLOADS_PREFIX
from worker import scratch

log = logging.getLogger(__name__)

BATCH = 100


def purge_expired_jobs(storage: Storage, config: Settings) -> int:
    """Expire up to one batch of jobs finished more than RETENTION_DAYS ago; returns how many."""
    if config.RETENTION_DAYS == 0:
        return 0
    cutoff = utcnow() - timedelta(days=config.RETENTION_DAYS)
    with session_scope() as session:  # the rows stay locked until they are marked
        job_ids = find_expired_retention(session, cutoff, limit=BATCH)
        for job_id in job_ids:
            storage.delete_job_objects(job_id)
            mark_expired(session, job_id)
    if job_ids:
        log.info(
            "retention: %d jobs older than %d days expired", len(job_ids), config.RETENTION_DAYS
        )
    return len(job_ids)


def purge_old_comparison_reports(storage: Storage, config: Settings) -> int:
    """Delete the reports and videos of comparisons finished more than RETENTION_DAYS ago
    (one batch); returns how many comparisons."""
    if config.RETENTION_DAYS == 0:
        return 0
    cutoff = utcnow() - timedelta(days=config.RETENTION_DAYS)
    with session_scope() as session:
        rows = session.execute(
            select(Comparison.id, Comparison.report_key, Comparison.video_key)
            .where(
                or_(Comparison.report_key.is_not(None), Comparison.video_key.is_not(None)),
                Comparison.finished_at < cutoff,
            )
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        keys = [key for _, report, video in rows for key in (report, video) if key]
        storage.delete_keys(keys, what="comparison reports and videos")
        if rows:
            session.execute(
                update(Comparison)
                .where(Comparison.id.in_([comparison_id for comparison_id, _, _ in rows]))
                .values(report_key=None, video_key=None)
            )
    return len(rows)


def purge_unused_uploads(
    storage: Storage, *, older_than: timedelta = timedelta(days=LIFECYCLE_DAYS)
) -> int:
    """Delete direct uploads older than a day that no job took; returns how many."""
    cutoff = utcnow() - older_than
    stale = [key for key, modified in storage.objects_under(UPLOADS_PREFIX) if modified < cutoff]
    storage.delete_keys(stale, what="unused uploads")
    if stale:
        log.info("retention: %d unused uploads deleted", len(stale))
    return len(stale)


_stale_uploads: dict[str, float] = {}  # upload id -> when this worker first saw it stale


def clean_up_leftovers(storage: Storage, config: Settings) -> None:
    """What crashes leave behind: multipart uploads of killed gateways, and this worker's
    scratch files of attempts that continued elsewhere."""
    aborted = storage.abort_stale_multipart_uploads(
        config.STALE_MULTIPART_UPLOAD_S, seen=_stale_uploads
    )
    if aborted:
        log.info("retention: %d abandoned multipart uploads aborted", aborted)
    scratch_age_s = config.DEPENDENCY_RETRY_WINDOW_S + config.job_time_limit_s + 3600
    if removed := scratch.prune(config.scratch_dir, scratch_age_s):
        log.info("retention: %d jobs' leftover scratch files removed", removed)


def start_retention(stop: threading.Event) -> threading.Thread:
    """Purge every RETENTION_INTERVAL_S in a daemon thread until `stop` (every worker runs
    one; the purges do not step on each other)."""

    def loop() -> None:
        while not stop.wait(settings.RETENTION_INTERVAL_S):
            try:
                while purge_expired_jobs(get_storage(), settings) == BATCH:
                    pass
                while purge_old_comparison_reports(get_storage(), settings) == BATCH:
                    pass
                purge_unused_uploads(get_storage())
                clean_up_leftovers(get_storage(), settings)
            except Exception:  # a database or storage outage: try again next round
                log.exception("retention purge failed")

    thread = threading.Thread(target=loop, name="retention", daemon=True)
    thread.start()
    return thread

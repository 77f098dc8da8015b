"""Progress written while the pipeline runs, which is also where a run learns it must stop.

- `JobProgress`: one job run whole: the job's progress, 0-95 % by frames.
- `SegmentProgress`: one segment of a split job: the segment's frames done and its lease;
  with `job=` (the job's coordinator runs it), the job's progress too.
- `record_split_progress`: a split job's progress, weighted by frames across its segments.

A write the database cannot take is skipped: progress is a hint, the leases keep the work.
Each raises `JobCancelled` once the work is no longer ours, and `ShuttingDown` when the
worker's grace is over.
"""

from __future__ import annotations

import logging
import time
import uuid

from shared.config import settings
from shared.db import session_scope
from shared.models import JobSegment
from shared.segment_states import frames_done, renew_segment
from shared.states import update_progress
from worker import shutdown
from worker.lease import LeaseKeeper
from worker.transient import is_transient

log = logging.getLogger(__name__)

FRAMES_SHARE = 95  # percent for the frames; the last 5 % is the stitch and the uploads


class JobCancelled(Exception):
    """The job was deleted, or another worker took it over, while this one ran it."""


class _Throttled:
    """Calls `write()` at most every PROGRESS_INTERVAL_S; checks for a stop on every frame."""

    def __init__(self, lease: LeaseKeeper | None):
        self.lease, self.last = lease, 0.0

    def __call__(self, done: int, total: int) -> None:
        shutdown.check()
        if self.lease is not None and self.lease.lost.is_set():
            raise JobCancelled()
        now = time.monotonic()
        if now - self.last < settings.PROGRESS_INTERVAL_S:
            return
        self.last = now
        try:
            ours = self.write(done, total)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("progress not recorded: %s", exc)
            return
        if not ours:
            raise JobCancelled()

    def write(self, done: int, total: int) -> bool:
        raise NotImplementedError


class JobProgress(_Throttled):
    def __init__(self, job_id: uuid.UUID, attempt: int, lease: LeaseKeeper):
        super().__init__(lease)
        self.job_id, self.attempt = job_id, attempt

    def write(self, done: int, total: int) -> bool:
        percent = int(FRAMES_SHARE * done / total) if total else 0
        with session_scope() as session:
            return update_progress(
                session, self.job_id, percent, lease_s=settings.JOB_LEASE_S, attempt=self.attempt
            )


class SegmentProgress(_Throttled):
    def __init__(self, segment: JobSegment, *, job: LeaseKeeper | None = None):
        super().__init__(job)
        self.segment = segment

    def write(self, done: int, total: int) -> bool:
        with session_scope() as session:
            ours = renew_segment(
                session, self.segment, frames_done=done, lease_s=settings.JOB_LEASE_S
            )
        if ours and self.lease is not None:  # the coordinator: the job's progress too
            return record_split_progress(self.segment.job_id, self.segment.attempt)
        return ours


def record_split_progress(job_id: uuid.UUID, attempt: int) -> bool:
    """The job's progress from its segments' frames done; False: the job is not ours."""
    with session_scope() as session:
        done, total = frames_done(session, job_id, attempt)
        percent = int(FRAMES_SHARE * done / total) if total else 0
        return update_progress(
            session, job_id, percent, lease_s=settings.JOB_LEASE_S, attempt=attempt
        )

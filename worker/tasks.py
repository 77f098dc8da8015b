"""Celery tasks: thin wrappers that call `worker.jobs` and `worker.notify`, mapping outcomes
to retries. Tasks take ids (and, for a continued attempt, its number) only.

`dance.process_job(job_id, attempt=None, since=None, fail=False, lease_token=None)`:
- `attempt`: continue this attempt (after an outage or a worker's shutdown) instead of
  starting one; `lease_token`: of the claim before the wait, which may still hold the lease
  (its release could not be written while the database was down);
- `since`: when the attempt's outage began (epoch seconds), carried along so the
  DEPENDENCY_RETRY_WINDOW_S is kept even while the database cannot record it;
- `fail`: only write the `dependency_unavailable` failure (it could not be written before).

`dance.process_segment(job_id, attempt, index)`: one segment of a split job's attempt, if it
is still free (`worker.split_jobs`); every ending is recorded on the segment's row.

`dance.compare_jobs(comparison_id)`: compare two jobs' performances (`worker.comparison_runs`);
storage or database outages are retried with backoff for DEPENDENCY_RETRY_WINDOW_S. It runs
under the same time limits as a job (JOB_SOFT_TIME_LIMIT_S, 30 min by default, then it fails
`time_limit_exceeded`). Measured on a 2-core VM: two 10-minute 1080p30 videos (the longest a
job takes at 30 fps, MAX_VIDEO_FRAMES) compare in 40 s without the side-by-side video and in
9.7 min with it (decoding, scaling and encoding 18,000 frames; 1.2 GB peak); a minute of 4K
takes 49 s with its video. So the default leaves three times the need.

`dance.deliver_webhook(subject_id, event_type, attempt, due_at)`: one attempt of a job's
(`job.*`) or a comparison's (`comparison.*`) event (`worker.notify`). Webhooks go out from
the `webhooks` queue, never from a video worker.
"""

from __future__ import annotations

import logging
import time
import uuid

from shared.config import settings
from shared.queue import COMPARE_JOBS, DELIVER_WEBHOOK, PROCESS_JOB, PROCESS_SEGMENT
from shared.storage import get_storage
from worker import comparison_runs, jobs, notify, split_jobs
from worker.celery_app import app
from worker.transient import is_transient

log = logging.getLogger(__name__)

# A countdown longer than the broker's visibility timeout gets the message redelivered while
# it waits (Redis): long webhook delays are slept in hops no longer than half of it.
MAX_COUNTDOWN_S = settings.broker_visibility_timeout_s // 2


@app.task(name=PROCESS_JOB, bind=True, max_retries=None)
def process_job(
    self,
    job_id: str,
    attempt: int | None = None,
    since: float | None = None,
    fail: bool = False,
    lease_token: str | None = None,
) -> str:
    job_uuid = uuid.UUID(job_id)

    def again(countdown: float, **kwargs) -> Exception:
        return self.retry(
            countdown=countdown,
            kwargs={
                "attempt": attempt,
                "since": since,
                "fail": fail,
                "lease_token": lease_token,
                **kwargs,
            },
        )

    try:
        if fail:
            outcome = jobs.fail_dependency_unavailable(job_uuid, attempt)
        else:
            outcome = jobs.process_job(
                job_uuid,
                get_storage(),
                worker=self.request.hostname or jobs.HOSTNAME,
                continue_attempt=attempt,
                lease_token=lease_token,
                retries=self.request.retries,
            )
    except jobs.RetryLater as exc:
        raise again(exc.delay_s) from None
    except jobs.HandedBack as exc:
        raise again(0, attempt=exc.attempt) from None
    except jobs.WaitForDependency as exc:
        began = min(
            filter(None, [since, exc.since.timestamp() if exc.since else None, time.time()])
        )
        if time.time() - began > settings.DEPENDENCY_RETRY_WINDOW_S:
            raise again(0, attempt=exc.attempt, since=began, fail=True) from None
        raise again(
            exc.delay_s, attempt=exc.attempt, since=began, lease_token=exc.lease_token
        ) from None
    except Exception as exc:
        if not is_transient(exc):
            raise
        # The database failed before an attempt began (or under a deferred failure write):
        # nothing to release; try again, backing off.
        log.warning("job %s: %s; trying again", job_id, exc)
        raise again(jobs.dependency_delay_s(self.request.retries)) from exc
    if outcome.event:
        queue_webhook(job_uuid, outcome.event)
    return outcome.status


@app.task(name=PROCESS_SEGMENT, bind=True)
def process_segment(self, job_id: str, attempt: int, index: int) -> str:
    return split_jobs.process_segment(
        uuid.UUID(job_id),
        attempt,
        index,
        get_storage(),
        worker=self.request.hostname or jobs.HOSTNAME,
    )


def queue_webhook(subject_id: uuid.UUID, event_type: str) -> None:
    """Send the event's first attempt (of a job's or a comparison's event) to the webhooks
    queue."""
    try:
        deliver_webhook.apply_async((str(subject_id), event_type, 1, time.time()))
    except Exception:
        log.exception("%s: the %s webhook could not be queued", subject_id, event_type)


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook(subject_id: str, event_type: str, attempt: int, due_at: float) -> None:
    if (wait := due_at - time.time()) > 1:  # woke early from a capped countdown
        deliver_webhook.apply_async(
            (subject_id, event_type, attempt, due_at), countdown=min(wait, MAX_COUNTDOWN_S)
        )
        return
    send_webhook(uuid.UUID(subject_id), event_type, attempt=attempt)


def send_webhook(subject_id: uuid.UUID, event_type: str, *, attempt: int) -> None:
    """Make this attempt now; schedule the next one on the webhooks queue if it failed."""
    try:
        delay = notify.attempt_delivery(subject_id, event_type, attempt, get_storage())
    except Exception:  # the attempt itself broke (database down?): counts as a failed one
        log.exception(
            "%s: webhook %s attempt %d could not be made", subject_id, event_type, attempt
        )
        delay = 30.0 if attempt < settings.WEBHOOK_MAX_ATTEMPTS else None
    if delay is not None:
        deliver_webhook.apply_async(
            (str(subject_id), event_type, attempt + 1, time.time() + delay),
            countdown=min(delay, MAX_COUNTDOWN_S),
        )


@app.task(name=COMPARE_JOBS, bind=True, max_retries=None)
def compare_jobs(self, comparison_id: str, since: float | None = None) -> str:
    comparison_uuid = uuid.UUID(comparison_id)
    began = since or time.time()
    try:
        outcome = comparison_runs.run_comparison(comparison_uuid, get_storage())
    except Exception as exc:
        if not is_transient(exc):
            raise
        if time.time() - began <= settings.DEPENDENCY_RETRY_WINDOW_S:
            log.warning("comparison %s: %s; trying again", comparison_id, exc)
            raise self.retry(
                countdown=jobs.dependency_delay_s(self.request.retries),
                kwargs={"since": began},
            ) from exc
        try:
            outcome = comparison_runs.fail_unavailable(comparison_uuid)
        except Exception:
            log.exception("comparison %s: could not record the failure", comparison_id)
            raise exc from None
    if outcome.event:
        queue_webhook(comparison_uuid, outcome.event)
    return outcome.status

"""Celery tasks: thin wrappers that call `worker.jobs` and `worker.notify`, mapping outcomes
to retries. Tasks take ids only."""

from __future__ import annotations

import logging
import random
import time
import uuid

from shared.config import settings
from shared.queue import DELIVER_WEBHOOK, PROCESS_JOB
from shared.storage import get_storage
from worker import jobs, notify
from worker.celery_app import app

log = logging.getLogger(__name__)

TRANSIENT_RETRIES = 5
# A countdown longer than the broker's visibility timeout gets the message redelivered while
# it waits (Redis): long webhook delays are slept in hops no longer than half of it.
MAX_COUNTDOWN_S = settings.broker_visibility_timeout_s // 2


@app.task(name=PROCESS_JOB, bind=True, max_retries=None)
def process_job(self, job_id: str) -> str:
    job_uuid = uuid.UUID(job_id)
    try:
        outcome = jobs.process_job(job_uuid, get_storage())
    except jobs.RetryLater as exc:
        raise self.retry(countdown=exc.delay_s) from None
    except Exception as exc:
        if not jobs.is_transient(exc):
            raise
        if self.request.retries >= TRANSIENT_RETRIES:
            outcome = jobs.fail_after_retries(job_uuid, exc)
        else:
            delay = (2 ** self.request.retries) * 5 * random.uniform(0.8, 1.2)
            log.warning("job %s: transient error, retry in %.0f s: %s", job_id, delay, exc)
            raise self.retry(countdown=delay) from exc
    if outcome.event:
        send_webhook(job_uuid, outcome.event, attempt=1)
    return outcome.status


@app.task(name=DELIVER_WEBHOOK)
def deliver_webhook(job_id: str, event_type: str, attempt: int, due_at: float) -> None:
    if (wait := due_at - time.time()) > 1:  # woke early from a capped countdown
        deliver_webhook.apply_async((job_id, event_type, attempt, due_at),
                                    countdown=min(wait, MAX_COUNTDOWN_S))
        return
    send_webhook(uuid.UUID(job_id), event_type, attempt=attempt)


def send_webhook(job_id: uuid.UUID, event_type: str, *, attempt: int) -> None:
    """Make this attempt now; schedule the next one on the webhooks queue if it failed."""
    try:
        delay = notify.attempt_delivery(job_id, event_type, attempt, get_storage())
    except Exception:  # the attempt itself broke (database down?): counts as a failed one
        log.exception("job %s: webhook attempt %d could not be made", job_id, attempt)
        delay = 30.0 if attempt < settings.WEBHOOK_MAX_ATTEMPTS else None
    if delay is not None:
        deliver_webhook.apply_async((str(job_id), event_type, attempt + 1, time.time() + delay),
                                    countdown=min(delay, MAX_COUNTDOWN_S))

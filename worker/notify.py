"""Webhook delivery for finished jobs: one signed attempt at a time, each recorded in a row."""

from __future__ import annotations

import logging
import uuid

from shared.config import settings
from shared.db import session_scope
from shared.models import Job, WebhookDelivery
from shared.schemas import job_status
from shared.states import JobStatus
from shared.storage import Storage
from shared.webhooks import build_event, deliver_once, next_retry_delay_s, webhook_id_for

log = logging.getLogger(__name__)


def attempt_delivery(job_id: uuid.UUID, event_type: str, attempt: int,
                     storage: Storage) -> float | None:
    """POST the job's event once and record the attempt.

    Returns the seconds to wait before the next attempt, or None when delivery is over
    (delivered, refused for good, out of attempts, or nothing to deliver).
    """
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None or not job.webhook_url or job.status == JobStatus.deleted:
            return None
        url = job.webhook_url
        data = job_status(job, storage, expires_s=settings.PRESIGNED_URL_EXPIRY_S,
                          base_url=settings.API_PUBLIC_URL or "")
    webhook_id = webhook_id_for(job_id, event_type)  # the same on every retry of this event
    body = build_event(event_type, data.model_dump(mode="json"))
    result = deliver_once(url, webhook_id=webhook_id, body=body,
                          secret=settings.WEBHOOK_SECRET, timeout_s=settings.WEBHOOK_TIMEOUT_S)
    with session_scope() as session:
        session.add(WebhookDelivery(
            job_id=job_id, event_type=event_type, webhook_id=webhook_id, attempt=attempt,
            url=url, status_code=result.status_code, latency_ms=result.latency_ms,
            error=result.error))
    log.info("job %s: webhook %s attempt %d -> %s (%s)", job_id, event_type, attempt,
             result.outcome, result.status_code or result.error)
    return next_retry_delay_s(result, attempt, settings.WEBHOOK_MAX_ATTEMPTS)

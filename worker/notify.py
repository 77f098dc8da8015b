"""Webhook delivery for finished jobs: one signed attempt at a time, each recorded in a row.

Before every attempt the URL is checked again (`shared.netguard`: DNS may have changed since
the submission) and the request goes to the address that was checked. The event is signed
with the job's tenant's secret (and its previous one during a rotation's grace period).
"""

from __future__ import annotations

import logging
import uuid

from shared import logs
from shared.config import settings
from shared.db import session_scope
from shared.models import Job, Tenant, WebhookDelivery
from shared.netguard import UnresolvableHost, WebhookURLError, check_webhook_url
from shared.schemas import JobStatusPublic, job_status
from shared.states import JobStatus
from shared.storage import Storage
from shared.tenants import signing_secrets
from shared.webhooks import (
    AttemptResult,
    build_event,
    deliver_once,
    next_retry_delay_s,
    webhook_id_for,
)
from worker import metrics

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 5.0


def attempt_delivery(
    job_id: uuid.UUID, event_type: str, attempt: int, storage: Storage
) -> float | None:
    """POST the job's event once and record the attempt.

    Returns the seconds to wait before the next attempt, or None when delivery is over
    (delivered, refused for good, out of attempts, or nothing to deliver).
    """
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None or not job.webhook_url or job.status == JobStatus.deleted:
            return None
        url, request_id, job_attempt = job.webhook_url, job.request_id, job.attempts
        secrets = signing_secrets(
            session.get_one(Tenant, job.tenant_id), settings.default_webhook_secret
        )
        data = job_status(
            job,
            storage,
            expires_s=settings.PRESIGNED_URL_EXPIRY_S,
            base_url=settings.API_PUBLIC_URL or "",
        )
    with logs.bound(attempt=job_attempt, request_id=request_id or ""):
        return _deliver(job_id, event_type, attempt, url, data, secrets, request_id)


def _deliver(
    job_id: uuid.UUID,
    event_type: str,
    attempt: int,
    url: str,
    data: JobStatusPublic,
    secrets: list[str],
    request_id: str | None,
) -> float | None:
    webhook_id = webhook_id_for(job_id, event_type)  # the same on every retry of this event
    try:
        target = check_webhook_url(url, settings.webhook_host_policy, timeout_s=RESOLVE_TIMEOUT_S)
    except WebhookURLError as exc:  # not sent: retried only if the host may resolve later
        result = AttemptResult(
            outcome="retry" if isinstance(exc, UnresolvableHost) else "give_up",
            status_code=None,
            latency_ms=0,
            error=f"not sent: {exc.message}",
        )
    else:
        body = build_event(event_type, data.model_dump(mode="json"))
        result = deliver_once(
            url,
            webhook_id=webhook_id,
            body=body,
            secrets=secrets,
            timeout_s=settings.WEBHOOK_TIMEOUT_S,
            address=str(target.address),
            request_id=request_id,
        )
    with session_scope() as session:
        session.add(
            WebhookDelivery(
                job_id=job_id,
                event_type=event_type,
                webhook_id=webhook_id,
                attempt=attempt,
                url=data.webhook_url or "",
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=result.error,
            )
        )
    metrics.WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
    log.info(
        "job %s: webhook %s attempt %d -> %s (%s)",
        job_id,
        event_type,
        attempt,
        result.outcome,
        result.status_code or result.error,
    )
    return next_retry_delay_s(result, attempt, settings.WEBHOOK_MAX_ATTEMPTS)

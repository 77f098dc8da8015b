"""Webhook delivery for finished jobs and comparisons: one signed attempt at a time, each
recorded in a row.

The event type says whose event it is (`comparison.*` a comparison's, the rest a job's); the
event's data is the subject's status object as the API shows it, with fresh presigned URLs.
Before every attempt the URL is checked again (`shared.webhooks.urls`: DNS may have changed since
the request) and the request goes to the address that was checked. The event is signed with
the tenant's secret (and its previous one during a rotation's grace period).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.orm import Session

from shared import logs
from shared.config import settings
from shared.db import session_scope
from shared.models import Comparison, Job, Tenant, WebhookDelivery
from shared.schemas import comparison_status, job_status
from shared.states import JobStatus
from shared.storage import Storage
from shared.tenants import signing_secrets
from shared.webhooks.delivery import AttemptResult, deliver_once
from shared.webhooks.events import COMPARISON_EVENT_PREFIX, build_event, webhook_id_for
from shared.webhooks.schedule import next_retry_delay_s
from shared.webhooks.urls import UnresolvableHost, WebhookURLError, check_webhook_url
from worker import prometheus

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Event:
    """One event to deliver: whose it is, where it goes, what it says, who signs it."""

    kind: str  # "job" or "comparison"
    subject_id: uuid.UUID
    url: str
    shown_url: str  # as the status object shows it (no credentials): the delivery row's
    data: BaseModel
    secrets: list[str]
    request_id: str | None
    log_fields: dict[str, object]


def attempt_delivery(
    subject_id: uuid.UUID, event_type: str, attempt: int, storage: Storage
) -> float | None:
    """POST the event of a job or comparison once and record the attempt.

    Returns the seconds to wait before the next attempt, or None when delivery is over
    (delivered, refused for good, out of attempts, or nothing to deliver).
    """
    with session_scope() as session:
        if event_type.startswith(COMPARISON_EVENT_PREFIX):
            event = _comparison_event(session, subject_id, storage)
        else:
            event = _job_event(session, subject_id, storage)
    if event is None:
        return None
    with logs.bound(**event.log_fields):
        return _deliver(event, event_type, attempt)


def _job_event(session: Session, job_id: uuid.UUID, storage: Storage) -> Event | None:
    job = session.get(Job, job_id)
    if job is None or not job.webhook_url or job.status == JobStatus.deleted:
        return None
    data = job_status(
        job,
        storage,
        expires_s=settings.PRESIGNED_URL_EXPIRY_S,
        base_url=settings.API_PUBLIC_URL or "",
    )
    return Event(
        kind="job",
        subject_id=job_id,
        url=job.webhook_url,
        shown_url=data.webhook_url or "",
        data=data,
        secrets=signing_secrets(
            session.get_one(Tenant, job.tenant_id), settings.default_webhook_secret
        ),
        request_id=job.request_id,
        log_fields={"attempt": job.attempts, "request_id": job.request_id or ""},
    )


def _comparison_event(session: Session, comparison_id: uuid.UUID, storage: Storage) -> Event | None:
    comparison = session.get(Comparison, comparison_id)
    if comparison is None or not comparison.webhook_url:
        return None
    data = comparison_status(
        comparison,
        storage,
        expires_s=settings.PRESIGNED_URL_EXPIRY_S,
        base_url=settings.API_PUBLIC_URL or "",
    )
    return Event(
        kind="comparison",
        subject_id=comparison_id,
        url=comparison.webhook_url,
        shown_url=data.webhook_url or "",
        data=data,
        secrets=signing_secrets(
            session.get_one(Tenant, comparison.tenant_id), settings.default_webhook_secret
        ),
        request_id=comparison.request_id,
        log_fields={"request_id": comparison.request_id or ""},
    )


def _deliver(event: Event, event_type: str, attempt: int) -> float | None:
    webhook_id = webhook_id_for(event.subject_id, event_type)  # the same on every retry
    try:
        target = check_webhook_url(
            event.url, settings.webhook_host_policy, timeout_s=RESOLVE_TIMEOUT_S
        )
    except WebhookURLError as exc:  # not sent: retried only if the host may resolve later
        result = AttemptResult(
            outcome="retry" if isinstance(exc, UnresolvableHost) else "give_up",
            status_code=None,
            latency_ms=0,
            error=f"not sent: {exc.message}",
        )
    else:
        body = build_event(event_type, event.data.model_dump(mode="json"))
        result = deliver_once(
            event.url,
            webhook_id=webhook_id,
            body=body,
            secrets=event.secrets,
            timeout_s=settings.WEBHOOK_TIMEOUT_S,
            address=str(target.address),
            request_id=event.request_id,
        )
    with session_scope() as session:
        session.add(
            WebhookDelivery(
                job_id=event.subject_id if event.kind == "job" else None,
                comparison_id=event.subject_id if event.kind == "comparison" else None,
                event_type=event_type,
                webhook_id=webhook_id,
                attempt=attempt,
                url=event.shown_url,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=result.error,
            )
        )
    prometheus.WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
    log.info(
        "%s %s: webhook %s attempt %d -> %s (%s)",
        event.kind,
        event.subject_id,
        event_type,
        attempt,
        result.outcome,
        result.status_code or result.error,
    )
    return next_retry_delay_s(result, attempt, settings.WEBHOOK_MAX_ATTEMPTS)

"""A webhook's message, per the Standard Webhooks spec: the event types, the exact body bytes
(`build_event`, built once and kept across attempts), the message ids and the signature
headers. Each attempt is signed again with a fresh `webhook-timestamp`, because receivers
refuse timestamps older than five minutes; during a secret rotation every given secret signs
(`webhook-signature` carries `v1,<sig>` per secret, space-separated)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import Enum
from secrets import token_urlsafe
from typing import Any

from standardwebhooks import Webhook

JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
COMPARISON_SUCCEEDED = "comparison.succeeded"
COMPARISON_FAILED = "comparison.failed"
EVENT_TYPES = frozenset({JOB_SUCCEEDED, JOB_FAILED, COMPARISON_SUCCEEDED, COMPARISON_FAILED})
COMPARISON_EVENT_PREFIX = "comparison."  # the rest are a job's


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):  # pydantic models, e.g. the job status schema
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in a webhook event; use timezone-aware UTC")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot serialize {type(value).__name__} in a webhook event")


def build_event(event_type: str, data: Any) -> bytes:
    """The exact body bytes of an event: compact UTF-8 JSON `{"type": ..., "data": ...}`."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}, expected {sorted(EVENT_TYPES)}")
    payload = {"type": event_type, "data": data}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text.encode("utf-8")


def new_webhook_id() -> str:
    """A fresh random message id, `msg_` + 24 url-safe characters."""
    return "msg_" + token_urlsafe(18)


_WEBHOOK_ID_NAMESPACE = uuid.UUID("8a7a3f0e-4d1b-5c55-9a35-2f0f6d1b7e21")


def webhook_id_for(subject_id: str | uuid.UUID, event_type: str) -> str:
    """A message id derived from the job (or comparison) and event, stable even if the task
    runs twice."""
    return "msg_" + uuid.uuid5(_WEBHOOK_ID_NAMESPACE, f"{subject_id}:{event_type}").hex


def sign_headers(
    secrets: Sequence[str], webhook_id: str, body: bytes, timestamp: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers (and content type) for `body` sent at `timestamp`.

    `webhook-signature` holds one `v1,<sig>` per secret, in the order given (current secret
    first, then the ones still in their rotation grace period).
    `timestamp` must be timezone-aware: `Webhook.sign` overwrites the tzinfo with UTC
    without converting, so it is converted to UTC here first.
    """
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, e.g. [secret], not a string")
    if not secrets:
        raise ValueError("at least one signing secret is required")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware, e.g. datetime.now(timezone.utc)")
    if "." in webhook_id:
        raise ValueError("webhook_id must not contain '.' (it delimits the signed content)")
    at = timestamp.astimezone(UTC)
    text = body.decode("utf-8")
    signatures = [Webhook(secret).sign(webhook_id, at, text) for secret in secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }

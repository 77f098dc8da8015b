"""Checking a webhook of the service, for receivers: the Standard Webhooks scheme
(https://www.standardwebhooks.com) that the service signs with.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` holds
one or more `v1,<base64 HMAC-SHA256>` (several while a secret is being rotated); the secret is
the tenant's `whsec_<base64 key>`. A timestamp more than `tolerance_s` away from now is
refused, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from dance_client.errors import WebhookVerificationError
from dance_client.models import ComparisonStatus, JobStatus

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The event if `payload` was signed with `secret`; raises `WebhookVerificationError`
    otherwise. Pass the raw body as received. A job's event is `{"type": "job.succeeded" |
    "job.failed", "data": <job status>}`, a comparison's `{"type": "comparison.succeeded" |
    "comparison.failed", "data": <comparison status>}` (`event_data` reads either into its
    model)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise WebhookVerificationError(f"missing header {missing.args[0]}") from None
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    body = payload.encode() if isinstance(payload, str) else payload
    expected = _signature(_key(secret), f"{webhook_id}.{sent_at}.".encode() + body)
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected.encode()):
            break
    else:
        raise WebhookVerificationError("no signature matches the secret")
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise WebhookVerificationError("the secret is not whsec_ + base64") from None


def _signature(key: bytes, content: bytes) -> str:
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def event_data(event: dict[str, Any]) -> JobStatus | ComparisonStatus:
    """The `data` of a verified event as its model: a `ComparisonStatus` for `comparison.*`
    events, a `JobStatus` for a job's."""
    kind = str(event.get("type", ""))
    if kind.startswith("comparison."):
        return ComparisonStatus.model_validate(event["data"])
    return JobStatus.model_validate(event["data"])

"""A sample webhook event, secrets to sign it with, and one attempt to deliver it."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.webhooks.delivery import AttemptResult, deliver_once
from shared.webhooks.events import JOB_SUCCEEDED, build_event
from tests.fixtures_s3 import TEST_WEBHOOK_SECRET

SECRET = TEST_WEBHOOK_SECRET
NEW_SECRET = "whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbi0xMjM0"
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
STATUS = {
    "job_id": "3f1c2a9e-0b7d-4e5f-9a61-2c8d7e4b5a10",
    "status": "succeeded",
    "finished_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
}


def deliver(
    url: str,
    *,
    webhook_id: str = "msg_test",
    timeout_s: float = 5.0,
    secrets: tuple[str, ...] = (SECRET,),
    **kwargs,
) -> AttemptResult:
    """Deliver the sample event once to `url` (options as `deliver_once`)."""
    body = build_event(JOB_SUCCEEDED, STATUS)
    return deliver_once(
        url, webhook_id=webhook_id, body=body, secrets=secrets, timeout_s=timeout_s, **kwargs
    )

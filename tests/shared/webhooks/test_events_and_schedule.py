"""Standard Webhooks events: body, signature, one attempt's outcome, retry schedule."""

from __future__ import annotations

import json
import random
import socket
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.webhooks.delivery import AttemptResult, classify_status, parse_retry_after
from shared.webhooks.events import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    build_event,
    new_webhook_id,
    sign_headers,
    webhook_id_for,
)
from shared.webhooks.schedule import (
    MAX_RETRY_DELAY_S,
    RETRY_SCHEDULE_S,
    max_total_delay_s,
    next_retry_delay_s,
    retry_delay_s,
)
from tests.fixtures_http import Reply
from tests.webhook_samples import NEW_SECRET, OTHER_SECRET, SECRET, STATUS, deliver


class _Midpoint:
    """An rng without jitter."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


# --- event and signature --------------------------------------------------------------------


def test_event_body_is_compact_json_with_type_and_data():
    body = build_event(JOB_FAILED, {"job_id": "j1", "error": {"code": "corrupt_video"}})
    assert body == b'{"type":"job.failed","data":{"job_id":"j1","error":{"code":"corrupt_video"}}}'


def test_event_serializes_aware_datetimes_and_uuids():
    job_id = uuid.uuid4()
    event = json.loads(build_event(JOB_SUCCEEDED, {**STATUS, "job_id": job_id}))
    assert event["data"]["job_id"] == str(job_id)
    assert event["data"]["finished_at"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize("event_type", ["comparison.succeeded", "comparison.failed"])
def test_comparison_events_are_built_and_identified_like_a_jobs(event_type):
    body = build_event(event_type, {"comparison_id": "c1", "summary": {"score": 91.5}})
    assert json.loads(body) == {
        "type": event_type,
        "data": {"comparison_id": "c1", "summary": {"score": 91.5}},
    }
    assert webhook_id_for("c1", event_type) == webhook_id_for("c1", event_type)
    assert webhook_id_for("c1", event_type) != webhook_id_for("c1", JOB_SUCCEEDED)


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError):
        build_event("job.exploded", {})


def test_webhook_ids_are_prefixed_and_unique():
    ids = {new_webhook_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("msg_") and "." not in i for i in ids)


def test_derived_webhook_id_is_stable_per_job_and_event():
    assert webhook_id_for("j1", JOB_SUCCEEDED) == webhook_id_for("j1", JOB_SUCCEEDED)
    assert webhook_id_for("j1", JOB_SUCCEEDED) != webhook_id_for("j1", JOB_FAILED)
    assert webhook_id_for("j1", JOB_SUCCEEDED) != webhook_id_for("j2", JOB_SUCCEEDED)


def test_signed_headers_verify_with_the_standardwebhooks_package():
    body = build_event(JOB_SUCCEEDED, STATUS)
    headers = sign_headers([SECRET], "msg_1", body, datetime.now(UTC))

    assert Webhook(SECRET).verify(body, headers)["type"] == JOB_SUCCEEDED
    assert headers["content-type"] == "application/json"


def test_signature_does_not_verify_for_another_body_or_secret():
    body = build_event(JOB_SUCCEEDED, STATUS)
    headers = sign_headers([SECRET], "msg_1", body, datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(body, headers)


def test_non_utc_timestamps_are_converted_not_relabelled():
    body = build_event(JOB_SUCCEEDED, STATUS)
    now = datetime.now(UTC)
    local = now.astimezone(timezone(timedelta(hours=5, minutes=30)))

    headers = sign_headers([SECRET], "msg_1", body, local)

    assert headers == sign_headers([SECRET], "msg_1", body, now)
    Webhook(SECRET).verify(body, headers)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError):
        sign_headers([SECRET], "msg_1", b"{}", datetime.now())


def test_every_secret_signs_in_the_order_given():
    body = build_event(JOB_SUCCEEDED, STATUS)
    at = datetime.now(UTC)

    headers = sign_headers([NEW_SECRET, SECRET], "msg_1", body, at)

    first, second = headers["webhook-signature"].split(" ")
    assert first == sign_headers([NEW_SECRET], "msg_1", body, at)["webhook-signature"]
    assert second == sign_headers([SECRET], "msg_1", body, at)["webhook-signature"]
    assert first.startswith("v1,") and second.startswith("v1,")


def test_signing_needs_at_least_one_secret_and_not_a_bare_string():
    at = datetime.now(UTC)
    with pytest.raises(ValueError):
        sign_headers([], "msg_1", b"{}", at)
    with pytest.raises(TypeError):
        sign_headers(SECRET, "msg_1", b"{}", at)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        deliver("http://127.0.0.1:1/hooks", secrets=())


# --- one attempt ----------------------------------------------------------------------------


def test_delivery_is_signed_and_verifies_on_the_receiver(webhook_receiver):
    result = deliver(webhook_receiver.url, webhook_id="msg_abc")

    (request,) = webhook_receiver.wait_for(1)
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["data"]["job_id"] == STATUS["job_id"]
    assert request.headers["webhook-id"] == "msg_abc"
    assert request.body == build_event(JOB_SUCCEEDED, STATUS)
    assert result.outcome == "delivered" and result.status_code == 200
    assert result.latency_ms >= 0


def test_retries_keep_the_webhook_id_and_are_signed_with_fresh_timestamps(webhook_receiver):
    webhook_receiver.respond_with(500, 200)
    first_at = datetime.now(UTC) - timedelta(minutes=2)  # an earlier attempt

    assert deliver(webhook_receiver.url, webhook_id="msg_same", timestamp=first_at).outcome == (
        "retry"
    )
    assert deliver(webhook_receiver.url, webhook_id="msg_same").outcome == "delivered"

    first, second = webhook_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "msg_same"
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert first.body == second.body
    for request in (first, second):
        Webhook(SECRET).verify(request.body, request.headers)


def test_a_default_attempt_is_signed_now(webhook_receiver):
    deliver(webhook_receiver.url)
    (request,) = webhook_receiver.wait_for(1)
    sent_at = int(request.headers["webhook-timestamp"])
    assert abs(sent_at - datetime.now(UTC).timestamp()) < 5


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (204, "delivered"), (410, "give_up"), (500, "retry"), (503, "retry")],
)
def test_outcome_follows_the_status_code(webhook_receiver, status, outcome):
    webhook_receiver.respond_with(status)
    result = deliver(webhook_receiver.url)
    assert (result.status_code, result.outcome) == (status, outcome)
    assert (result.error is None) == (outcome == "delivered")


def test_redirects_are_not_followed_and_count_as_failures(webhook_receiver):
    webhook_receiver.respond_with(Reply(302, headers={"location": "http://127.0.0.1:1/elsewhere"}))

    result = deliver(webhook_receiver.url)

    assert (result.status_code, result.outcome) == (302, "retry")
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 408, 409, 425, 429])
def test_client_errors_other_than_410_are_retried(status):
    assert classify_status(status) == "retry"


def test_a_receiver_slower_than_the_timeout_is_retried(webhook_receiver):
    webhook_receiver.respond_with(Reply(200, delay_s=3))

    result = deliver(webhook_receiver.url, timeout_s=0.3)

    assert result.outcome == "retry"
    assert result.status_code is None
    assert result.error == "timeout: no complete answer within 0.3 s"
    assert result.latency_ms < 2500


def test_a_2xx_whose_body_stalls_still_counts_as_delivered(webhook_receiver):
    webhook_receiver.respond_with(Reply(200, body=b"ok", body_delay_s=3))

    result = deliver(webhook_receiver.url, timeout_s=0.3)

    assert (result.status_code, result.outcome) == (200, "delivered")


def test_connection_refused_is_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = deliver(f"http://127.0.0.1:{port}/hooks", timeout_s=2)

    assert (result.status_code, result.outcome) == (None, "retry")
    assert "ConnectError" in result.error


def test_an_unusable_url_is_given_up():
    assert deliver("ftp://127.0.0.1/hooks").outcome == "give_up"


def test_retry_after_seconds_is_reported_and_honoured(webhook_receiver):
    webhook_receiver.respond_with(Reply(429, headers={"retry-after": "120"}))

    result = deliver(webhook_receiver.url)

    assert (result.outcome, result.retry_after_s) == ("retry", 120.0)
    assert next_retry_delay_s(result, attempt=1, max_attempts=8) >= 120


def test_retry_after_accepts_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- secret rotation ------------------------------------------------------------------------


def test_during_a_rotation_both_secrets_verify_the_delivered_request(webhook_receiver):
    result = deliver(webhook_receiver.url, secrets=(NEW_SECRET, SECRET))

    assert result.outcome == "delivered"
    (request,) = webhook_receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(sig.startswith("v1,") for sig in signatures)
    for secret in (NEW_SECRET, SECRET):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == JOB_SUCCEEDED
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(request.body, request.headers)


# --- retry schedule -------------------------------------------------------------------------


def test_schedule_follows_standard_webhooks_without_jitter():
    delays = [retry_delay_s(n, rng=_Midpoint()) for n in range(1, 9)]
    assert delays == pytest.approx([5, 300, 1800, 7200, 18000, 36000, 36000, 36000])


@pytest.mark.parametrize("attempt", range(1, 10))
def test_jitter_stays_within_20_percent(attempt):
    base = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
    rng = random.Random(attempt)
    delays = [retry_delay_s(attempt, rng=rng) for _ in range(200)]
    assert all(0.8 * base <= d <= 1.2 * base for d in delays)
    assert len(set(delays)) > 1


def test_retry_after_raises_the_delay_but_never_past_12_hours():
    assert retry_delay_s(1, retry_after_s=600, rng=_Midpoint()) == 600
    assert retry_delay_s(3, retry_after_s=10, rng=_Midpoint()) == pytest.approx(1800)
    assert retry_delay_s(1, retry_after_s=3 * 86400, rng=_Midpoint()) == MAX_RETRY_DELAY_S


def test_no_retry_after_delivery_give_up_or_the_last_attempt():
    retry = AttemptResult(outcome="retry", status_code=500, latency_ms=1)
    assert next_retry_delay_s(retry, attempt=1, max_attempts=3) is not None
    assert next_retry_delay_s(retry, attempt=3, max_attempts=3) is None
    for outcome in ("delivered", "give_up"):
        done = AttemptResult(outcome=outcome, status_code=200, latency_ms=1)
        assert next_retry_delay_s(done, attempt=1, max_attempts=3) is None


def test_the_whole_schedule_is_bounded_by_max_attempts():
    assert max_total_delay_s(1) == 0
    assert max_total_delay_s(3) == pytest.approx(1.2 * (5 + 300))
    rng = random.Random(7)
    result = AttemptResult(outcome="retry", status_code=500, latency_ms=1)
    waited, attempt = 0.0, 1
    while (delay := next_retry_delay_s(result, attempt, max_attempts=8, rng=rng)) is not None:
        waited += delay
        attempt += 1
    assert attempt == 8
    assert waited <= max_total_delay_s(8)

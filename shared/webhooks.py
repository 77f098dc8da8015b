"""Webhooks of jobs and comparisons per the Standard Webhooks spec: event body, signature,
one delivery attempt, retry schedule. Pure functions over httpx; the task that stores
delivery rows lives elsewhere.

One event is built once (`build_event`) and keeps its `webhook-id` and exact body bytes
across attempts; each attempt is signed again with a fresh `webhook-timestamp`, because
receivers refuse timestamps older than five minutes.

Outcome of an attempt (`AttemptResult.outcome`):
- `delivered`: any 2xx.
- `give_up`: 410 Gone (the spec's "disable this endpoint"), or a request that can never be
  sent (malformed URL, unsupported scheme, invalid header).
- `retry`: everything else. Following the spec and Svix, every other non-2xx is a failure
  worth retrying, 4xx included: receivers answer 400/401/404 while deploying or rotating
  secrets, and the schedule is bounded (`WEBHOOK_MAX_ATTEMPTS`), so a dead endpoint costs
  a handful of requests. Redirects are never followed (the target would escape the SSRF
  checks and the signature is for the original URL): a 3xx is a failed attempt, retried.
  Timeouts and connection errors are retried.
A `Retry-After` (seconds or HTTP date) on a failed attempt is reported in `retry_after_s`
and `retry_delay_s` waits at least that long.

One attempt has ONE deadline (`timeout_s`) for connecting, sending and reading the status
line, headers and at most `MAX_RESPONSE_BYTES` of the body, so a receiver dripping bytes
cannot hold a worker longer. With `address` (an IP the caller already checked against SSRF
rules) the connection goes to that IP and nowhere else, no second DNS lookup; the `Host`
header, TLS SNI and certificate check still use the URL's name. During a secret rotation
every given secret signs: `webhook-signature` carries `v1,<sig>` per secret, space-separated.
"""

from __future__ import annotations

import ipaddress
import json
import math
import random
import ssl
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import partial
from secrets import token_urlsafe
from typing import Any, Literal, cast

import anyio
import httpx
from standardwebhooks import Webhook

JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
COMPARISON_SUCCEEDED = "comparison.succeeded"
COMPARISON_FAILED = "comparison.failed"
EVENT_TYPES = frozenset({JOB_SUCCEEDED, JOB_FAILED, COMPARISON_SUCCEEDED, COMPARISON_FAILED})
COMPARISON_EVENT_PREFIX = "comparison."  # the rest are a job's

# Delay after failed attempt n (1-based) is RETRY_SCHEDULE_S[n - 1], the last one repeating:
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ... (the first attempt goes out at once).
RETRY_SCHEDULE_S: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
JITTER = 0.2
MAX_RETRY_DELAY_S = 12 * 3600.0
RESPONSE_EXCERPT_BYTES = 1024
MAX_RESPONSE_BYTES = 64 * 1024  # read no more of an answer's body than this
USER_AGENT = "dance-analyzer-webhooks/1"

Outcome = Literal["delivered", "retry", "give_up"]


# --- event ----------------------------------------------------------------------------------


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


# --- signature ------------------------------------------------------------------------------


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


# --- one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    status_code: int | None
    latency_ms: int
    error: str | None = None
    retry_after_s: float | None = None
    response_excerpt: str | None = None  # first bytes of the answer, for delivery logs
    timestamp: datetime | None = None  # the signed webhook-timestamp of this attempt

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def classify_status(status_code: int) -> Outcome:
    """`delivered` for 2xx, `give_up` for 410, `retry` for anything else (3xx included)."""
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "give_up"
    return "retry"


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def _pinned_target(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by `address`, plus the `Host` header and, for https, the
    `sni_hostname` extension that keep the original name for the receiver and for TLS."""
    original = httpx.URL(url)
    if not original.raw_host:
        raise httpx.InvalidURL(f"no host in {url!r}")
    ip = ipaddress.ip_address(address)  # ValueError for anything but an IP literal
    target = original.copy_with(host=str(ip))  # httpx brackets an IPv6 address
    headers = {"host": original.netloc.decode("ascii")}  # host[:port], port only if not default
    extensions: dict[str, Any] = {}
    if original.scheme == "https":
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    return target, headers, extensions


@dataclass
class _Exchange:
    """What one attempt got before it ended: the answer (if the status line came), the
    first bytes of its body, or the failure that prevented an answer."""

    response: httpx.Response | None = None
    excerpt: bytearray = field(default_factory=bytearray)
    failure: tuple[Outcome, str] | None = None


async def _read_capped(response: httpx.Response, excerpt: bytearray) -> None:
    """Read the raw body up to `MAX_RESPONSE_BYTES` (give or take one network read), keeping
    its first `RESPONSE_EXCERPT_BYTES` in `excerpt` as they arrive."""
    read = 0
    raw = cast(AsyncGenerator[bytes, None], response.aiter_raw())  # it is one: closeable
    async with aclosing(raw) as chunks:
        async for chunk in chunks:
            read += len(chunk)
            room = RESPONSE_EXCERPT_BYTES - len(excerpt)
            if room > 0:
                excerpt += chunk[:room]
            if read >= MAX_RESPONSE_BYTES:
                return


async def _exchange(
    target: httpx.URL,
    *,
    headers: dict[str, str],
    extensions: dict[str, Any],
    body: bytes,
    timeout_s: float,
    verify: ssl.SSLContext | bool,
    transport: httpx.AsyncBaseTransport | None,
) -> _Exchange:
    """POST under one deadline for the whole exchange; whatever arrived in time is kept."""
    got = _Exchange()
    with anyio.move_on_after(timeout_s):
        try:
            async with httpx.AsyncClient(
                transport=transport,
                verify=verify,
                timeout=timeout_s,  # a backstop only: the deadline around it ends first
                follow_redirects=False,
                trust_env=False,
            ) as client:
                request = client.build_request(
                    "POST", target, content=body, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True, follow_redirects=False)
                got.response = response
                try:  # the status line decides; a body that stalls or breaks does not
                    if response.is_stream_consumed:  # read by the transport (MockTransport)
                        got.excerpt += response.content[:RESPONSE_EXCERPT_BYTES]
                    else:
                        await _read_capped(response, got.excerpt)
                except httpx.HTTPError:
                    pass
                finally:
                    await response.aclose()
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            got.failure = ("give_up", _describe(exc))
        except httpx.HTTPError as exc:  # connection refused/reset, TLS, protocol errors
            got.failure = ("retry", _describe(exc))
    return got


def deliver_once(
    url: str,
    *,
    webhook_id: str,
    body: bytes,
    secrets: Sequence[str],
    timeout_s: float,
    address: str | None = None,
    timestamp: datetime | None = None,
    request_id: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    verify: ssl.SSLContext | bool = True,
) -> AttemptResult:
    """POST the signed event once and classify the answer; never raises for network errors.

    Signs with every secret in `secrets` and with `timestamp` (default: now, which is what
    every real attempt wants). `timeout_s` is one deadline for the whole attempt. With
    `address` (an IP literal) the connection goes to that IP, never to a fresh DNS answer.
    Redirects are not followed and proxies from the environment are ignored. `verify` (CA
    trust) and `transport` are for tests. `request_id` goes out as `X-Request-ID`, the id of
    the request that submitted the job. Synchronous: runs its own event loop per call, so
    it must not be called from a thread that is running an event loop.
    """
    at = timestamp or datetime.now(UTC)
    headers = sign_headers(secrets, webhook_id, body, at)
    headers["user-agent"] = USER_AGENT
    headers["accept-encoding"] = "identity"  # the body cap counts bytes as they arrive
    if request_id:
        headers["x-request-id"] = request_id
    started = time.perf_counter()

    def elapsed_ms() -> int:
        return round((time.perf_counter() - started) * 1000)

    def failed(outcome: Outcome, error: str) -> AttemptResult:
        return AttemptResult(
            outcome=outcome, status_code=None, latency_ms=elapsed_ms(), error=error, timestamp=at
        )

    extensions: dict[str, Any] = {}
    try:
        if address is None:
            target = httpx.URL(url)
        else:
            target, host_header, extensions = _pinned_target(url, address)
            headers.update(host_header)
    except httpx.InvalidURL as exc:
        return failed("give_up", _describe(exc))

    exchange = partial(
        _exchange,
        target,
        headers=headers,
        extensions=extensions,
        body=body,
        timeout_s=timeout_s,
        verify=verify,
        transport=transport,
    )
    got = anyio.run(exchange)  # a fresh event loop per call: fine in Celery children/threads
    response = got.response
    if response is None:
        if got.failure is not None:
            return failed(*got.failure)
        return failed("retry", f"timeout: no complete answer within {timeout_s:g} s")

    status = response.status_code
    outcome = classify_status(status)
    retry_after = None
    error = None
    if outcome != "delivered":
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
    return AttemptResult(
        outcome=outcome,
        status_code=status,
        latency_ms=elapsed_ms(),
        error=error,
        retry_after_s=retry_after,
        response_excerpt=bytes(got.excerpt).decode("utf-8", "replace"),
        timestamp=at,
    )


# --- retry schedule -------------------------------------------------------------------------


def retry_delay_s(
    attempt: int, retry_after_s: float | None = None, *, rng: random.Random | Any = random
) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based) before the next one.

    The spec's schedule (5 s, 5 min, 30 min, 2 h, 5 h, then 10 h) with +-20% jitter; never
    shorter than `retry_after_s`, never longer than 12 h (the cap wins over Retry-After).
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    base = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
    delay = base * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None and retry_after_s > delay:
        delay = float(retry_after_s)
    return min(delay, MAX_RETRY_DELAY_S)


def next_retry_delay_s(
    result: AttemptResult,
    attempt: int,
    max_attempts: int,
    *,
    rng: random.Random | Any = random,
) -> float | None:
    """The wait before the next attempt, or None when delivery is over (delivered, given up,
    or `attempt` was the last of `max_attempts`, e.g. `settings.WEBHOOK_MAX_ATTEMPTS`)."""
    if result.outcome != "retry" or attempt >= max_attempts:
        return None
    return retry_delay_s(attempt, result.retry_after_s, rng=rng)


def max_total_delay_s(max_attempts: int) -> float:
    """Upper bound of the time from the first to the last of `max_attempts` attempts, jitter
    included. Retry-After can stretch each delay up to 12 h, so the hard bound is
    `(max_attempts - 1) * MAX_RETRY_DELAY_S`."""
    total = 0.0
    for attempt in range(1, max_attempts):
        base = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
        total += min(base * (1 + JITTER), MAX_RETRY_DELAY_S)
    return total


__all__ = [
    "COMPARISON_EVENT_PREFIX",
    "COMPARISON_FAILED",
    "COMPARISON_SUCCEEDED",
    "EVENT_TYPES",
    "JOB_FAILED",
    "JOB_SUCCEEDED",
    "MAX_RESPONSE_BYTES",
    "RETRY_SCHEDULE_S",
    "AttemptResult",
    "build_event",
    "classify_status",
    "deliver_once",
    "max_total_delay_s",
    "new_webhook_id",
    "next_retry_delay_s",
    "parse_retry_after",
    "retry_delay_s",
    "sign_headers",
    "webhook_id_for",
]

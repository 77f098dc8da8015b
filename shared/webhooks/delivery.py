"""One delivery attempt of a webhook, over httpx (the worker's task that stores delivery rows
is `worker.notify`).

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
header, TLS SNI and certificate check still use the URL's name.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, Literal, cast

import anyio
import httpx

from shared.webhooks.events import sign_headers

RESPONSE_EXCERPT_BYTES = 1024
MAX_RESPONSE_BYTES = 64 * 1024  # read no more of an answer's body than this
USER_AGENT = "dance-analyzer-webhooks/1"

DeliveryOutcome = Literal["delivered", "retry", "give_up"]


@dataclass(frozen=True)
class AttemptResult:
    outcome: DeliveryOutcome
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


def classify_status(status_code: int) -> DeliveryOutcome:
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
    failure: tuple[DeliveryOutcome, str] | None = None


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

    def failed(outcome: DeliveryOutcome, error: str) -> AttemptResult:
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

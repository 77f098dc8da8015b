"""Sending a request politely: connection errors and 502/503/504 are tried again after a
jittered exponential backoff, a 429 waits what its `Retry-After` says, and any other 4xx is
raised at once as the API's error."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from dance_client.errors import ServiceUnavailable, error_from_response, retry_after

RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request is tried. `attempts` counts tries against connection errors and
    502/503/504; waiting out 429s does not use them, up to `max_rate_limited_s` per request."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_rate_limited_s: float = 300.0

    def delay(self, attempt: int) -> float:
        """The pause before try `attempt + 2`: doubling, capped, with full jitter on its upper
        half (so that many clients do not come back at once)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    policy: RetryPolicy,
    *,
    idempotent: bool,
    build: Callable[[], dict[str, Any]] | None = None,
    stream: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """The response to a 2xx/3xx answer (unread when `stream`). A request that may have been
    processed (a read error, a 502 or 504) is sent again only when `idempotent`; one that
    never left (a connection refused) or was refused unprocessed (503, 429) always is.
    `build()` makes fresh request arguments for each try (an upload body read again)."""
    attempt, rate_limited_s = 0, 0.0
    while True:
        request = http.build_request(method, url, **(build() if build else kwargs))
        try:
            response = await http.send(request, stream=stream)
        except httpx.TransportError as exc:
            never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if not (idempotent or never_sent) or attempt + 1 >= policy.attempts:
                raise ServiceUnavailable(
                    0, "connection_failed", f"{method} {_safe(url)}: {exc!r}"
                ) from exc
            await anyio.sleep(policy.delay(attempt))
            attempt += 1
            continue
        if response.status_code < 400:
            return response
        await response.aread()
        await response.aclose()
        status = response.status_code
        if status == 429:
            wait_s = retry_after(response)
            wait_s = policy.delay(attempt) if wait_s is None else wait_s
            if rate_limited_s + wait_s > policy.max_rate_limited_s:
                raise error_from_response(response)
            await anyio.sleep(wait_s)
            rate_limited_s += wait_s
            continue
        retry = status in RETRIED_STATUSES and (idempotent or status == 503)
        if not retry or attempt + 1 >= policy.attempts:
            raise error_from_response(response)
        wait_s = retry_after(response)
        await anyio.sleep(
            policy.delay(attempt) if wait_s is None else min(wait_s, policy.max_delay_s)
        )
        attempt += 1


def _safe(url: str) -> str:
    """A URL without its query (a presigned URL's signature stays out of messages)."""
    return url.split("?", 1)[0]

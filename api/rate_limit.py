"""Per-tenant request rate limit on `/api/*` (`RATE_LIMIT_PER_MINUTE`), with the `limits`
library: a moving one-minute window whose counters live in Redis, so that every API replica
counts against the same budget (in memory for the local mode, which has no Redis).

Over the limit: 429 `rate_limited` with `Retry-After`. If the counter store is unreachable
the request goes through (logged): an outage of Redis must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from functools import lru_cache

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.auth import CallerDep
from api.deps import SettingsDep
from api.errors import APIError

log = logging.getLogger(__name__)

STORE_TIMEOUT_S = 1.0


@lru_cache(maxsize=4)
def _limiter(storage_url: str) -> MovingWindowRateLimiter:
    options = (
        {}
        if storage_url.startswith("memory://")
        else {"socket_timeout": STORE_TIMEOUT_S, "socket_connect_timeout": STORE_TIMEOUT_S}
    )
    return MovingWindowRateLimiter(storage_from_string(storage_url, **options))


def enforce_rate_limit(caller: CallerDep, settings: SettingsDep) -> None:
    """Count this request against its tenant's budget; 429 when the budget is spent."""
    per_minute = settings.RATE_LIMIT_PER_MINUTE
    if per_minute == 0:
        return
    item = RateLimitItemPerMinute(per_minute)
    limiter = _limiter(settings.rate_limit_storage_url)
    key = str(caller.tenant_id)
    try:
        if limiter.hit(item, "api", key):
            return
        reset_at = limiter.get_window_stats(item, "api", key).reset_time
    except Exception as exc:  # the counter store is down: let the request through
        log.warning("rate limit not checked (counter store unreachable): %s", exc)
        return
    retry_after = max(1, math.ceil(reset_at - time.time()))
    raise APIError(
        429,
        "rate_limited",
        f"more than {per_minute} requests per minute for this tenant; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after), "RateLimit-Limit": str(per_minute)},
    )

"""When a failed webhook attempt is tried again: the spec's schedule with jitter, bounded by
`WEBHOOK_MAX_ATTEMPTS` and by 12 h a wait, `Retry-After` honoured within that cap."""

from __future__ import annotations

import random
from typing import Any

from shared.webhooks.delivery import AttemptResult

# Delay after failed attempt n (1-based) is RETRY_SCHEDULE_S[n - 1], the last one repeating:
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ... (the first attempt goes out at once).
RETRY_SCHEDULE_S: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
JITTER = 0.2
MAX_RETRY_DELAY_S = 12 * 3600.0


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

"""Pytest plugin: the machine's Redis. `redis_url` (session): skipped when unreachable, failed
when CI=true; `require_redis(url)` does the same for another database number."""

from __future__ import annotations

import os

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis(url: str) -> str:
    """`url` if its Redis answers; otherwise skip the test (fail it under CI=true)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url} ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; start it or set CI=true to make this an error")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_redis(REDIS_URL)

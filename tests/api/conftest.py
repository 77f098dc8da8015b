"""Fixtures of the API tests: the HTTP API in-process, against the real Postgres, Redis and a
moto S3 server. Each test gets a fresh database (`db`), its own bucket (`storage`), its own
Redis queue (`broker`) and a tenant with an API key (`tenant`); `client` sends its key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis

from shared import queue as shared_queue
from shared.config import Settings, settings
from shared.storage import Storage
from shared.tenants import create_tenant
from tests.api.helpers import ApiTenant, Broker, api_client
from tests.fixtures_redis import require_redis

TEST_REDIS_DB = 11


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    """The process settings pointed at a fresh queue on a test Redis database."""
    url = require_redis(f"redis://127.0.0.1:6379/{TEST_REDIS_DB}")
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    queue = f"test-api-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(settings, "REDIS_URL", url)
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", None)
    monkeypatch.setattr(settings, "CELERY_QUEUE", queue)
    shared_queue._client.cache_clear()
    yield Broker(client, url, queue)
    if shared_queue._client.cache_info().currsize:
        shared_queue._client().close()  # its connection pool
    shared_queue._client.cache_clear()
    client.delete(queue, *client.keys(f"_kombu.binding*.{queue}"))
    client.close()


@pytest.fixture
def api_settings(s3_settings: Settings, broker: Broker) -> Settings:
    """Settings of the app under test: the test bucket and queue; rate limits counted in
    memory (each app its own), so tests do not share budgets through Redis."""
    return s3_settings.model_copy(
        update={
            "REDIS_URL": broker.url,
            "CELERY_BROKER_URL": None,
            "CELERY_QUEUE": broker.queue,
            "MAX_UPLOAD_MB": 64,
            "API_PUBLIC_URL": None,
            "CORS_ORIGINS": [],
            "RATE_LIMIT_STORAGE_URL": f"memory://{uuid.uuid4().hex}",
        }
    )


def make_tenant(db: Any, name: str) -> ApiTenant:
    """A tenant made the way `dance-analyzer tenants create` makes one."""
    with db() as session:
        tenant, new = create_tenant(session, name)
        return ApiTenant(
            id=tenant.id,
            name=tenant.name,
            api_key=new.plaintext,
            webhook_secret=tenant.webhook_secret,
            headers={"Authorization": f"Bearer {new.plaintext}"},
        )


@pytest.fixture
def tenant(db: Any) -> ApiTenant:
    return make_tenant(db, "alpha")


@pytest.fixture
def other_tenant(db: Any) -> ApiTenant:
    return make_tenant(db, "beta")


@pytest.fixture
async def client(
    db: Any, api_settings: Settings, storage: Storage, tenant: ApiTenant
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app under test, authenticated as `tenant`."""
    async with api_client(api_settings, storage, headers=tenant.headers) as client:
        yield client

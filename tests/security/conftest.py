"""A stack for the attacks: uvicorn and a Celery worker as real processes on the machine's
Postgres and Redis and moto's S3 server, with tight limits so that each one can be reached
quickly. Each test gets tenants of its own, made in this process by the function behind
`dance-analyzer tenants create` (`shared.tenants.create_tenant`, on the stack's database): the
CLI itself is tested in `test_access.py`, and a subprocess a tenant cost a second of CPU."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from cli.local_stack import ServiceProcesses
from shared.tenants import create_tenant
from tests.fixtures_http import WebhookReceiver
from tests.fixtures_s3 import new_bucket
from tests.stacks import running_stack, service_env

METRICS_TOKEN = "metrics-token-for-tests"
# The test receivers listen here, the one address exempt from the SSRF checks: every spelling
# of 127.0.0.1 stays refused.
RECEIVERS = "127.0.0.5"
LIMITS = {
    "RATE_LIMIT_PER_MINUTE": "120",
    "MAX_JOBS_IN_FLIGHT": "3",
    "UPLOAD_IDLE_TIMEOUT_S": "2",
    "MAX_CONCURRENT_UPLOADS": "2",
    "MAX_UPLOAD_MB": "32",
    "WEBHOOK_TIMEOUT_S": "2",
    "RETENTION_DAYS": "30",
    "RETENTION_INTERVAL_S": "1",
}


@dataclass(frozen=True)
class Bucket:
    client: object
    name: str

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def unfinished_uploads(self) -> list[dict]:
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


@pytest.fixture(scope="package")
def bucket(moto_server) -> Bucket:
    s3, name = new_bucket(moto_server, "security")
    return Bucket(s3, name)


@pytest.fixture(scope="package")
def stack(pg_url, redis_url, moto_server, bucket, tmp_path_factory) -> Iterator[ServiceProcesses]:
    env = service_env(
        pg_url=pg_url,
        redis_url=redis_url,
        moto_server=moto_server,
        bucket=bucket.name,
        WEBHOOK_ALLOWED_HOSTS=RECEIVERS,
        METRICS_TOKEN=METRICS_TOKEN,
        CORS_ORIGINS="https://app.example.com",
        **LIMITS,
    )
    # The API also accepts 127.0.0.2, which the worker refuses: the delivery check's test.
    with running_stack(
        env,
        tmp_path_factory.mktemp("security-logs"),
        api_env={"WEBHOOK_ALLOWED_HOSTS": f"{RECEIVERS},127.0.0.2"},
    ) as services:
        yield services


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A recording webhook endpoint on the exempt test address."""
    receiver = WebhookReceiver(host=RECEIVERS)
    receiver.start()
    yield receiver
    receiver.close()


@dataclass(frozen=True)
class Tenant:
    """A tenant as `dance-analyzer tenants create --json` prints it, with a client."""

    tenant_id: str
    name: str
    api_key: str
    webhook_secret: str
    api: httpx.Client


@pytest.fixture(scope="package")
def make_tenant(stack, pg_url) -> Iterator:
    clients: list[httpx.Client] = []
    engine = create_engine(pg_url)

    def make(prefix: str = "t") -> Tenant:
        with Session(engine) as session, session.begin():
            tenant, key = create_tenant(session, f"{prefix}-{secrets.token_hex(3)}")
            made = {  # what `dance-analyzer tenants create --json` prints
                "tenant_id": str(tenant.id),
                "name": tenant.name,
                "api_key": key.plaintext,
                "webhook_secret": tenant.webhook_secret,
            }
        client = httpx.Client(
            base_url=stack.api_url,
            timeout=60,
            headers={"Authorization": f"Bearer {made['api_key']}"},
        )
        clients.append(client)
        return Tenant(api=client, **made)

    yield make
    for client in clients:
        client.close()
    engine.dispose()


@pytest.fixture
def tenant(make_tenant) -> Tenant:
    """A new tenant for each test: its own rate budget and jobs."""
    return make_tenant()


def submit(api: httpx.Client, path, route: str = "/api/jobs", headers=None, **form):
    with open(path, "rb") as fh:
        return api.post(
            route,
            data=form,
            headers=headers or {},
            files={"video": (os.path.basename(str(path)), fh, "video/mp4")},
        )


def wait_for_end(
    api: httpx.Client,
    job_id: str,
    timeout_s: float = 120,
    until: tuple[str, ...] = ("succeeded", "failed"),
) -> dict:
    """Poll the status (within the rate limit) until the job reaches one of `until`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = api.get(f"/api/status/{job_id}")
        if answer.status_code == 429:
            time.sleep(min(5, int(answer.headers["retry-after"])))
            continue
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] in until:
            return answer.json()
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {until} within {timeout_s} s")

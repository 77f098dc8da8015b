"""Pytest plugin: the e2e service stack, started once per session (per xdist worker).

- `bucket` (session): `(s3 client, name)` of the stack's own bucket on moto's S3 server.
- `stack` (session): uvicorn, a video worker and the webhooks worker as real processes on
  the session's Postgres database, the machine's Redis (queues of their own) and the bucket.
  Modules that need other settings override `stack` with a stack of their own.
- `tenant` (module): a tenant made with the real CLI, so each module has its own jobs and
  rate budget; `api` (module): an HTTP client authenticated as it.

A test that kills or restarts a process of the stack leaves a working one behind (see
`test_a_job_survives_its_worker_being_killed`), so later modules find the service up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from cli.local_stack import ServiceProcesses, tenant_command
from tests.fixtures_s3 import new_bucket
from tests.stacks import running_stack, service_env, tenant_client


@pytest.fixture(scope="session")
def bucket(moto_server: str) -> tuple[object, str]:
    s3, name = new_bucket(moto_server, "e2e")
    return s3, name


def e2e_stack(pg_url, redis_url, moto_server, bucket, log_dir) -> Iterator[ServiceProcesses]:
    """The e2e processes on the worker's database, Redis, S3 server and `bucket`."""
    env = service_env(
        pg_url=pg_url,
        redis_url=redis_url,
        moto_server=moto_server,
        bucket=bucket[1],
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1",  # the receivers
    )
    with running_stack(env, log_dir) as services:
        yield services


@pytest.fixture(scope="session")
def stack(pg_url, redis_url, moto_server, bucket, tmp_path_factory) -> Iterator[ServiceProcesses]:
    yield from e2e_stack(
        pg_url, redis_url, moto_server, bucket, tmp_path_factory.mktemp("e2e-logs")
    )


@pytest.fixture(scope="module")
def tenant(stack: ServiceProcesses) -> dict:
    """A tenant made with the real CLI: `dance-analyzer tenants create NAME --json`."""
    return tenant_command(stack.env, "create", f"e2e-{secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def api(stack: ServiceProcesses, tenant: dict) -> Iterator[httpx.Client]:
    """An HTTP client of the API, authenticated as `tenant`."""
    with tenant_client(stack.api_url, tenant["api_key"]) as client:
        yield client

"""The service as real processes for end-to-end tests: uvicorn and a Celery worker on the
machine's Postgres and Redis and moto's S3 server, each stack on queues of its own."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from tests.fixtures_s3 import TEST_WEBHOOK_SECRET
from worker.local_stack import ServiceProcesses


class PatientTransport(httpx.HTTPTransport):
    """Waits out the tenant's rate limit (429 `rate_limited`, `Retry-After`) and sends again,
    as a well-behaved client does. Polling tests spend the budget (300 requests a minute), and
    the next test's first request must not fail for it; jobs-in-flight 429s are answered."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        while True:
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.read()
            if response.json().get("code") != "rate_limited":
                return response
            time.sleep(float(response.headers.get("retry-after", "1")))


def tenant_client(api_url: str, api_key: str) -> httpx.Client:
    """An HTTP client of the API authenticated as a tenant, patient with its rate limit."""
    return httpx.Client(
        base_url=api_url,
        timeout=60,
        headers={"Authorization": f"Bearer {api_key}"},
        transport=PatientTransport(),
    )


def service_env(
    *, pg_url: str, redis_url: str, moto_server: str, bucket: str, **settings: str
) -> dict[str, str]:
    """The processes' environment: short leases and reconcile rounds, test credentials,
    presigned URLs for `localhost` (another name of the S3 server); `settings` on top."""
    suffix = secrets.token_hex(4)
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"video-{suffix}",
        "WEBHOOK_QUEUE": f"webhooks-{suffix}",
        "S3_ENDPOINT_URL": moto_server,
        "S3_PUBLIC_ENDPOINT_URL": f"http://localhost:{urlparse(moto_server).port}",
        "S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "PROGRESS_INTERVAL_S": "0.2",
        "JOB_LEASE_S": "10",
        "RECONCILE_INTERVAL_S": "1",
        "RECONCILE_QUEUED_AFTER_S": "5",
        "DEPENDENCY_RETRY_MAX_DELAY_S": "2",
        **settings,
    }
    env.pop("CELERY_BROKER_URL", None)  # the broker is REDIS_URL
    env.pop("AUTH_REQUIRED", None)  # the default: keys required
    return env


@contextmanager
def running_stack(env: dict[str, str], log_dir: Path, **options: Any) -> Iterator[ServiceProcesses]:
    """Start the API and a worker; stop them afterwards and print the end of their logs."""
    services = ServiceProcesses(env, log_dir, **options)
    services.start()
    try:
        yield services
    finally:
        services.stop()
        for name in services.processes:
            print(f"----- {name} log -----\n{services.log(name)[-5000:]}")

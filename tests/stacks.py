"""The service as real processes for end-to-end tests: uvicorn and a Celery worker on the
machine's Postgres and Redis and moto's S3 server, each stack on queues of its own; and what
the tests do with one over HTTP (submit, wait for the end, list the job's objects, scrape a
worker's metrics)."""

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
from prometheus_client.parser import text_string_to_metric_families

from cli.local_stack import ServiceProcesses
from tests.fixtures_s3 import TEST_WEBHOOK_SECRET


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


def submit(api, path, route="/api/jobs", headers=None, **form) -> httpx.Response:
    with open(path, "rb") as fh:
        video = (os.path.basename(path), fh, "video/mp4")
        return api.post(route, data=form, files={"video": video}, headers=headers, timeout=60)


def wait_for_end(api, job_id: str, timeout_s: float = 120) -> tuple[dict, list[int]]:
    """Poll the status until the job ends; also return the progress values seen."""
    deadline, seen = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        status = api.get(f"/api/status/{job_id}").json()
        seen.append(status["progress"])
        if status["status"] in ("succeeded", "failed"):
            return status, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end")


def objects_of(bucket, job_id: str) -> list[str]:
    s3, name = bucket
    keys = []
    for prefix in (f"inputs/{job_id}/", f"outputs/{job_id}/"):
        keys += [
            o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix=prefix).get("Contents", [])
        ]
    return keys


def worker_metrics(stack, name: str) -> dict[tuple[str, tuple], float]:
    """One scrape of a worker's own metrics server, parsed by prometheus_client."""
    text = httpx.get(f"http://127.0.0.1:{stack.metrics_ports[name]}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_ready(stack, name: str, timeout_s: float = 90) -> None:
    """A worker serves its metrics once it is ready to take tasks (`worker_ready`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            worker_metrics(stack, name)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(f"{name} did not start:\n{stack.log(name)[-3000:]}")

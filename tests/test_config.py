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
    config = make(S3_ENDPOINT_URL="http://minio:9000",
                  S3_PUBLIC_ENDPOINT_URL="https://files.example.com")
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


@pytest.mark.parametrize("bad", [{"MAX_UPLOAD_MB": 0}, {"MIN_DETECTION_CONFIDENCE": 1.5},
                                 {"PRESIGNED_URL_EXPIRY_S": 8 * 24 * 3600},
                                 {"WEBHOOK_SECRET": "plain-text"}])
def test_impossible_values_are_refused(bad):
    with pytest.raises(ValidationError):
        make(**bad)


def test_production_refuses_the_development_secrets():
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        make(ENVIRONMENT="production", AWS_SECRET_ACCESS_KEY="real")
    with pytest.raises(ValidationError, match="AWS_SECRET_ACCESS_KEY"):
        make(ENVIRONMENT="production", WEBHOOK_SECRET=SECRET)
    config = make(ENVIRONMENT="production", WEBHOOK_SECRET=SECRET, AWS_SECRET_ACCESS_KEY="real")
    assert config.WEBHOOK_SECRET != DEV_WEBHOOK_SECRET

"""The one settings object of the project, read from the environment (and `.env`).

The API, the worker, the Alembic environment and the CLI all import `settings` from here;
nothing else in the project reads environment variables.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.webhooks.urls import HostPolicy

DEV_WEBHOOK_SECRET = "whsec_ZGV2ZWxvcG1lbnQtb25seS1zZWNyZXQtY2hhbmdlLW1l"
DEV_AWS_SECRET_ACCESS_KEY = "minioadmin"


def _string_list(value: Any) -> Any:
    """A list setting from the environment: a JSON list or a comma-separated string."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


StringList = Annotated[list[str], NoDecode, BeforeValidator(_string_list)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    ENVIRONMENT: Literal["development", "test", "production"] = "development"

    # --- contract: services ------------------------------------------------------------
    DATABASE_URL: str = "postgresql+psycopg://postgres@127.0.0.1:5432/dance"
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    S3_ENDPOINT_URL: str = "http://127.0.0.1:9000"
    S3_PUBLIC_ENDPOINT_URL: str | None = None  # host clients reach; defaults to S3_ENDPOINT_URL
    S3_BUCKET: str = "dance-videos"
    AWS_ACCESS_KEY_ID: str = "minioadmin"
    AWS_SECRET_ACCESS_KEY: SecretStr = SecretStr(DEV_AWS_SECRET_ACCESS_KEY)
    AWS_REGION: str = "us-east-1"
    # Signs the webhooks of the default tenant (AUTH_REQUIRED=false); every other tenant has
    # its own secret. Unset in development: a fixed development secret.
    WEBHOOK_SECRET: SecretStr | None = None

    # --- contract: access control and quotas ------------------------------------------------
    AUTH_REQUIRED: bool = True  # false: requests without a key act as the tenant "default"
    MAX_UPLOAD_MB: int = Field(default=1024, ge=1, le=5 * 1024)  # S3 copies <= 5 GiB at once
    RECONCILE_INTERVAL_S: float = Field(default=60.0, gt=0)
    WEBHOOK_ALLOWED_HOSTS: StringList = Field(default_factory=list)  # names, IPs, CIDRs
    RATE_LIMIT_PER_MINUTE: int = Field(default=300, ge=0)  # per tenant on /api/*; 0: off
    RATE_LIMIT_STORAGE_URL: str | None = None  # default: REDIS_URL, memory:// without Redis
    MAX_JOBS_IN_FLIGHT: int = Field(default=10, ge=1)  # per tenant, queued or processing
    METRICS_TOKEN: SecretStr | None = None  # bearer token of /metrics
    RETENTION_DAYS: int = Field(default=30, ge=0)  # inputs and outputs kept; 0: forever
    RETENTION_INTERVAL_S: float = Field(default=3600.0, gt=0)  # how often workers purge
    WEBHOOK_SECRET_GRACE_S: float = Field(default=24 * 3600.0, ge=0)  # old secret still signs
    UPLOAD_IDLE_TIMEOUT_S: float = Field(default=30.0, gt=0)  # 408 after this long silent
    MAX_CONCURRENT_UPLOADS: int = Field(default=16, ge=1)  # per API process; 503 beyond
    # GET /api/jobs/{id}/events (Server-Sent Events): how often a stream looks at its job,
    # keep-alive comments, how long one stream lasts before the client reconnects (with
    # Last-Event-ID), and how many streams one API process holds (503 beyond)
    EVENTS_POLL_INTERVAL_S: float = Field(default=0.5, gt=0)
    EVENTS_PING_S: float = Field(default=15.0, gt=0)
    EVENTS_MAX_STREAM_S: float = Field(default=600.0, gt=0)
    MAX_EVENT_STREAMS: int = Field(default=200, ge=1)

    # --- queue ----------------------------------------------------------------------------
    CELERY_BROKER_URL: str | None = None  # defaults to REDIS_URL; local mode: filesystem://
    CELERY_FILESYSTEM_BROKER_DIR: str = ".local/broker"  # only for filesystem://
    CELERY_QUEUE: str = "video"
    WEBHOOK_QUEUE: str = "webhooks"
    CELERY_WORKER_CONCURRENCY: int = Field(default=1, ge=1)
    # longest allowed job, and comparison (two 10-minute videos with their side-by-side video:
    # about 10 min, `worker.tasks`)
    JOB_SOFT_TIME_LIMIT_S: int = Field(default=1800, ge=10)
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1)
    JOB_LEASE_S: int = Field(default=120, ge=10)  # a claimed job is re-claimable after this
    RECONCILE_QUEUED_AFTER_S: float = Field(default=300.0, gt=0)  # message checks after this
    WORKER_MAX_TASKS_PER_CHILD: int = Field(default=50, ge=1)
    # A storage or database outage: retries back off (with jitter, up to the max delay)
    # within this window, then the job fails `dependency_unavailable`. No attempt is used.
    DEPENDENCY_RETRY_WINDOW_S: float = Field(default=900.0, gt=0)
    DEPENDENCY_RETRY_MAX_DELAY_S: float = Field(default=60.0, gt=0)
    # On SIGTERM a worker finishes its job within this, else hands it back at once; give the
    # platform's grace (compose stop_grace_period, Kubernetes terminationGracePeriodSeconds)
    # some 15 s more.
    JOB_SHUTDOWN_GRACE_S: float = Field(default=45.0, ge=0)
    WORKER_SCRATCH_DIR: str | None = None  # a job's staged files; default: the temp dir
    STALE_MULTIPART_UPLOAD_S: float = Field(default=3600.0, gt=0)  # aborted after this idle
    # A job whose video lasts at least SPLIT_MIN_SECONDS is cut at keyframes into segments of
    # about SEGMENT_SECONDS that idle video workers process in parallel, then stitched
    # (`worker.split_jobs`); only while other workers are idle. 0: never split.
    SPLIT_MIN_SECONDS: float = Field(default=60.0, ge=0)
    SEGMENT_SECONDS: float = Field(default=30.0, ge=1)
    WORKER_METRICS_PORT: int = Field(default=9808, ge=0, le=65535)  # 0: no metrics server
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- pipeline limits (bad input is refused with a code, see pipeline.errors) ----
    MAX_VIDEO_DURATION_S: float = Field(default=600.0, gt=0)
    MAX_VIDEO_FRAMES: int = Field(default=18_000, ge=1)  # the model's cost: 10 min at 30 fps
    MAX_VIDEO_FPS: float = Field(default=120.0, gt=0)
    MAX_VIDEO_SIDE: int = Field(default=4096, ge=64)
    MAX_VIDEO_PIXELS: int = Field(default=3840 * 2160, ge=64 * 64)
    MIN_DETECTION_CONFIDENCE: float = Field(default=0.5, ge=0, le=1)
    MIN_TRACKING_CONFIDENCE: float = Field(default=0.5, ge=0, le=1)
    # where `dance-analyzer models install` writes the lite and heavy pose models and runs
    # look for them (default: beside the mediapipe wheel's own, `pipeline.pose.models`)
    POSE_MODELS_DIR: str | None = None
    PROGRESS_INTERVAL_S: float = Field(default=1.0, gt=0)

    # --- results and webhooks -------------------------------------------------------------
    PRESIGNED_URL_EXPIRY_S: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    WEBHOOK_TIMEOUT_S: float = Field(default=15.0, gt=0)
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=8, ge=1)

    # --- API ------------------------------------------------------------------------------
    CORS_ORIGINS: StringList = Field(default_factory=list)
    API_PUBLIC_URL: str | None = None  # base for Location headers when behind a proxy

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _secret_is_standard_webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_webhook_secret(value.get_secret_value()):
            raise ValueError("WEBHOOK_SECRET must be 'whsec_' followed by base64 (>= 18 bytes)")
        return value

    @field_validator("WEBHOOK_ALLOWED_HOSTS")
    @classmethod
    def _allowed_hosts_parse(cls, value: list[str]) -> list[str]:
        HostPolicy.from_entries(value)  # raises ValueError naming a bad entry
        return value

    @model_validator(mode="after")
    def _no_default_secrets_outside_development(self) -> Settings:
        if self.ENVIRONMENT == "development":
            return self
        where = f"ENVIRONMENT={self.ENVIRONMENT}"
        secret = self.WEBHOOK_SECRET.get_secret_value() if self.WEBHOOK_SECRET else None
        if secret == DEV_WEBHOOK_SECRET:
            raise ValueError(f"WEBHOOK_SECRET is the development secret; set your own ({where})")
        if secret is None and not self.AUTH_REQUIRED:
            raise ValueError(
                f"WEBHOOK_SECRET must be set when AUTH_REQUIRED=false ({where}): "
                "it signs the default tenant's webhooks"
            )
        if self.AWS_SECRET_ACCESS_KEY.get_secret_value() == DEV_AWS_SECRET_ACCESS_KEY:
            raise ValueError(f"AWS_SECRET_ACCESS_KEY is the default; set the real one ({where})")
        return self

    @property
    def default_webhook_secret(self) -> str:
        """The secret of the default tenant's webhooks (the development one if unset)."""
        return self.WEBHOOK_SECRET.get_secret_value() if self.WEBHOOK_SECRET else DEV_WEBHOOK_SECRET

    @property
    def webhook_host_policy(self) -> HostPolicy:
        """`WEBHOOK_ALLOWED_HOSTS` as a policy for `shared.webhooks.urls.check_webhook_url`."""
        return HostPolicy.from_entries(self.WEBHOOK_ALLOWED_HOSTS)

    @property
    def rate_limit_storage_url(self) -> str:
        """Where rate-limit counters live: shared by every API replica when on Redis."""
        if self.RATE_LIMIT_STORAGE_URL:
            return self.RATE_LIMIT_STORAGE_URL
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return "memory://"  # the local mode (no Redis): one API process

    @property
    def s3_public_endpoint_url(self) -> str:
        return self.S3_PUBLIC_ENDPOINT_URL or self.S3_ENDPOINT_URL

    @property
    def broker_url(self) -> str:
        return self.CELERY_BROKER_URL or self.REDIS_URL

    @property
    def job_time_limit_s(self) -> int:
        """Hard limit: the soft limit plus a minute to fail the job cleanly."""
        return self.JOB_SOFT_TIME_LIMIT_S + 60

    @property
    def broker_visibility_timeout_s(self) -> int:
        """Redis redelivers unacked messages after this; keep it well above the hard limit."""
        return 2 * self.job_time_limit_s + 600

    @property
    def scratch_dir(self) -> str:
        """Where workers keep a job's input and outputs between retries of an attempt."""
        return self.WORKER_SCRATCH_DIR or os.path.join(tempfile.gettempdir(), "dance-scratch")


def is_webhook_secret(value: str) -> bool:
    """Whether `value` looks like a Standard Webhooks secret: `whsec_` + base64 of >= 18 bytes."""
    return value.startswith("whsec_") and len(value) >= 6 + 24


settings = Settings()

"""The one settings object of the project, read from the environment (and `.env`).

The API, the worker, the Alembic environment and the CLI all import `settings` from here;
nothing else in the project reads environment variables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_WEBHOOK_SECRET = "whsec_ZGV2ZWxvcG1lbnQtb25seS1zZWNyZXQtY2hhbmdlLW1l"


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
    AWS_SECRET_ACCESS_KEY: str = "minioadmin"
    AWS_REGION: str = "us-east-1"
    WEBHOOK_SECRET: str = DEV_WEBHOOK_SECRET

    # --- contract: reserved for hardening -------------------------------------------------
    AUTH_REQUIRED: bool = False
    MAX_UPLOAD_MB: int = Field(default=1024, ge=1)
    RECONCILE_INTERVAL_S: float = Field(default=60.0, gt=0)
    WEBHOOK_ALLOWED_HOSTS: list[str] = Field(default_factory=list)

    # --- queue ----------------------------------------------------------------------------
    CELERY_BROKER_URL: str | None = None  # defaults to REDIS_URL; local mode: filesystem://
    CELERY_FILESYSTEM_BROKER_DIR: str = ".local/broker"  # only for filesystem://
    CELERY_QUEUE: str = "video"
    WEBHOOK_QUEUE: str = "webhooks"
    CELERY_WORKER_CONCURRENCY: int = Field(default=1, ge=1)
    JOB_SOFT_TIME_LIMIT_S: int = Field(default=1800, ge=10)  # longest allowed job
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1)
    JOB_LEASE_S: int = Field(default=120, ge=10)  # a claimed job is re-claimable after this
    RECONCILE_QUEUED_AFTER_S: float = Field(default=300.0, gt=0)  # re-enqueue stuck jobs
    WORKER_MAX_TASKS_PER_CHILD: int = Field(default=50, ge=1)

    # --- pipeline limits (bad input is refused with a code, see worker.pipeline.errors) ----
    MAX_VIDEO_DURATION_S: float = Field(default=600.0, gt=0)
    MAX_VIDEO_SIDE: int = Field(default=4096, ge=64)
    MAX_VIDEO_PIXELS: int = Field(default=3840 * 2160, ge=64 * 64)
    MIN_DETECTION_CONFIDENCE: float = Field(default=0.5, ge=0, le=1)
    MIN_TRACKING_CONFIDENCE: float = Field(default=0.5, ge=0, le=1)
    PROGRESS_INTERVAL_S: float = Field(default=1.0, gt=0)

    # --- results and webhooks -------------------------------------------------------------
    PRESIGNED_URL_EXPIRY_S: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    WEBHOOK_TIMEOUT_S: float = Field(default=15.0, gt=0)
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=8, ge=1)

    # --- API ------------------------------------------------------------------------------
    CORS_ORIGINS: list[str] = Field(default_factory=list)
    API_PUBLIC_URL: str | None = None  # base for Location headers when behind a proxy

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _secret_is_standard_webhooks(cls, value: str) -> str:
        if not value.startswith("whsec_") or len(value) < 6 + 24:
            raise ValueError("WEBHOOK_SECRET must be 'whsec_' followed by base64 (>= 18 bytes)")
        return value

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.ENVIRONMENT == "production":
            if self.WEBHOOK_SECRET == DEV_WEBHOOK_SECRET:
                raise ValueError("WEBHOOK_SECRET must be set in production")
            if self.AWS_SECRET_ACCESS_KEY == "minioadmin":
                raise ValueError("AWS_SECRET_ACCESS_KEY must be set in production")
        return self

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
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")


settings = Settings()

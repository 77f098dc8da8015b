"""Database models: tenants and their API keys, the job row (the whole story of one
analysis), webhook deliveries and comparisons of two jobs.

Portable across Postgres and SQLite: UUID keys use `Uuid` (native UUID / CHAR(32)), JSON is
JSONB on Postgres, and timestamps are always timezone-aware UTC when read back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that refuses naive values and always reads back aware UTC.

    Postgres stores `timestamptz`; SQLite stores UTC text, which compares correctly as text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use an aware UTC datetime (shared.models.utcnow)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JobStatus(str, Enum):
    """Lifecycle of a job (re-exported by `shared.states`, which owns the transitions)."""

    queued = "queued"
    processing = "processing"
    succeeded = "succeeded"
    failed = "failed"
    deleted = "deleted"
    expired = "expired"  # its files were purged after RETENTION_DAYS; the row stays
    retrying = "retrying"  # waiting out a storage or database outage, or a worker's shutdown

    def __str__(self) -> str:
        return self.value


_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in JobStatus)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    """A client of the service: owns its jobs, its API keys and its webhook signing secret.

    Webhook secrets are stored as they are (signing needs them); API keys only as hashes.
    `webhook_secret` is None for the default tenant of `AUTH_REQUIRED=false`, whose webhooks
    are signed with the `WEBHOOK_SECRET` setting. After a rotation the previous secret keeps
    signing too until `previous_secret_expires_at`.
    """

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(
        back_populates="tenant", passive_deletes=True, order_by="ApiKey.created_at"
    )

    def __repr__(self) -> str:
        return f"<Tenant {self.name}>"


class ApiKey(Base):
    """One API key of a tenant, stored as the SHA-256 of the key; `prefix` identifies it in
    listings. A revoked key stays for the record and no longer authenticates."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship(back_populates="keys")

    def __repr__(self) -> str:
        return f"<ApiKey {self.prefix}… of {self.tenant_id}>"


class Job(Base):
    """One video analysis: input, options, progress, outputs, metrics, timing and errors."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        Index("ix_jobs_status_created_at", "status", "created_at"),
        Index("ix_jobs_status_finished_at", "status", "finished_at"),  # the retention purge
        # a tenant's listing (order and cursor) and its jobs in flight
        Index("ix_jobs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        Index("ix_jobs_tenant_id_status", "tenant_id", "status"),
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_id_idempotency_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    input_key: Mapped[str] = mapped_column(String(1024))
    input_filename: Mapped[str | None] = mapped_column(String(255))
    input_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    input_content_type: Mapped[str | None] = mapped_column(String(255))

    # the outputs of a succeeded job: {output name: storage key} (`shared.outputs.JOB_OUTPUTS`)
    output_keys: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    # the motion files: {"files": [{"name", "format", "person", "key"}], "note"}
    output_exports: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # the short form of analysis.json: tempo, on-beat score, ranges of motion
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error_code: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))  # X-Request-ID of the submission
    error_message: Mapped[str | None] = mapped_column(Text)

    worker_host: Mapped[str | None] = mapped_column(String(255))  # the worker's node name
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))  # which claim holds the lease
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its task message sent

    # While `retrying`: why, when the next try is due, and since when the attempt has been
    # waiting on dependencies (it fails `dependency_unavailable` after
    # DEPENDENCY_RETRY_WINDOW_S).
    retry_reason: Mapped[str | None] = mapped_column(Text)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retrying_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Idempotency-Key of the submission (per tenant, 24 h) and the fingerprint of what was
    # asked then (input, webhook URL, options): a replay asking something else is refused.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))

    queue_wait_s: Mapped[float | None] = mapped_column(Float)
    processing_time_s: Mapped[float | None] = mapped_column(Float)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="job", passive_deletes=True, order_by="WebhookDelivery.created_at"
    )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status} {self.progress}%>"


class WebhookDelivery(Base):
    """One attempt to deliver one webhook event; `webhook_id` is shared by all its retries.
    The event is a job's (`job_id`) or a comparison's (`comparison_id`): exactly one is set."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "(job_id IS NULL AND comparison_id IS NOT NULL) "
            "OR (job_id IS NOT NULL AND comparison_id IS NULL)",
            name="one_subject",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    comparison_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("comparisons.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    webhook_id: Mapped[str] = mapped_column(String(255))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[Job | None] = relationship(back_populates="deliveries")

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.webhook_id} #{self.attempt} {self.status_code}>"


class ComparisonStatus(str, Enum):
    queued = "queued"
    processing = "processing"
    succeeded = "succeeded"
    failed = "failed"

    def __str__(self) -> str:
        return self.value


_COMPARISON_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in ComparisonStatus)


class MirrorMode(str, Enum):
    """Whether a comparison mirrors the attempt (left and right swapped): `auto` tries both
    and keeps the one that aligns better; `on` always; `off` never."""

    auto = "auto"
    on = "on"
    off = "off"

    def __str__(self) -> str:
        return self.value


_MIRROR_MODE_VALUES = ", ".join(f"'{mode.value}'" for mode in MirrorMode)


class Comparison(Base):
    """An attempt compared with a reference performance: two succeeded jobs of one tenant.
    The summary (scores, timing, feedback, segments; the report without its long lists) is
    kept here; the full report is an object in storage (`report_key`), and so is the
    side-by-side video when one was asked for and could be made (`video_key`)."""

    __tablename__ = "comparisons"
    __table_args__ = (
        CheckConstraint(f"status IN ({_COMPARISON_STATUS_VALUES})", name="status"),
        CheckConstraint(f"mirror_mode IN ({_MIRROR_MODE_VALUES})", name="mirror_mode"),
        Index("ix_comparisons_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    reference_job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"))
    attempt_job_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("jobs.id"))
    mirror_mode: Mapped[str] = mapped_column(String(8), default=MirrorMode.auto.value)
    video: Mapped[bool] = mapped_column(default=True)  # comparison.mp4 asked for
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    request_id: Mapped[str | None] = mapped_column(String(64))  # X-Request-ID of the request
    status: Mapped[str] = mapped_column(String(16), default=ComparisonStatus.queued.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    report_key: Mapped[str | None] = mapped_column(String(1024))
    video_key: Mapped[str | None] = mapped_column(String(1024))

    def output_key(self, name: str) -> str | None:
        """The storage key of its output `name` (`shared.outputs.COMPARISON_OUTPUTS`)."""
        return {"report": self.report_key, "video": self.video_key}.get(name)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Comparison {self.id} {self.status}>"


class SegmentStatus(str, Enum):
    queued = "queued"
    processing = "processing"
    done = "done"
    failed = "failed"

    def __str__(self) -> str:
        return self.value


_SEGMENT_STATUS_VALUES = ", ".join(f"'{status.value}'" for status in SegmentStatus)


class JobSegment(Base):
    """One part of a long job's video (`pipeline.segments.cuts`), processed by any worker
    for one attempt of the job: which frames, who holds it (a lease of its own), how far it
    got, and how it ended. The job's own row keeps the job's state; `worker.split_jobs`."""

    __tablename__ = "job_segments"
    __table_args__ = (
        CheckConstraint(f"status IN ({_SEGMENT_STATUS_VALUES})", name="status"),
        CheckConstraint("frames_done >= 0", name="frames_done_nonnegative"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the cut, in the video stream's time base (`Segment`)
    start_pts: Mapped[int] = mapped_column(BigInteger)
    end_pts: Mapped[int | None] = mapped_column(BigInteger)
    first_frame: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)

    status: Mapped[str] = mapped_column(String(16), default=SegmentStatus.queued.value)
    frames_done: Mapped[int] = mapped_column(Integer, default=0)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # claims: retried alone, capped
    worker_host: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<JobSegment {self.job_id}/{self.attempt}/{self.index} {self.status}>"

"""Request and response models of the API (the job status object is `shared.schemas`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.schemas import JobStatusPublic


class JobFromUpload(BaseModel):
    """Create a job from a file uploaded directly to storage (see `POST /api/uploads`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "upload_id": "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11",
                    "webhook_url": "https://example.com/hooks/dance",
                    "options": {"min_detection_confidence": 0.6},
                }
            ]
        },
    )

    upload_id: uuid.UUID = Field(description="The `upload_id` returned by `POST /api/uploads`.")
    webhook_url: str | None = Field(
        default=None, description="Called when the job ends (http or https, <= 2048 chars)."
    )
    options: dict[str, Any] | None = Field(
        default=None, description="Processing options, see `JobOptions`."
    )


class UploadCreate(BaseModel):
    """Ask for a presigned upload of one video straight to storage."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"filename": "routine.mp4", "content_type": "video/mp4"}]},
    )

    filename: str | None = Field(
        default=None,
        max_length=1024,
        description="The file's name; only its extension is used in the storage key.",
    )
    content_type: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^(video/[A-Za-z0-9][A-Za-z0-9.+-]*|application/octet-stream)$",
        description="If given, the upload must be sent with this Content-Type.",
    )


class UploadTicket(BaseModel):
    """Where and how to upload: a POST form, size-capped by storage. (No presigned PUT: it
    cannot carry a size cap.)"""

    upload_id: uuid.UUID
    method: Literal["POST"] = "POST"
    url: str = Field(description="POST a multipart form here: `fields`, then the file as `file`.")
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    key: str
    job_url: str = Field(description='Then `POST` `{"upload_id": ...}` here to start the job.')


class JobList(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobStatusPublic]
    next: str | None = Field(description="URL of the next page, or null on the last one.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"}}
            ]
        }
    )

    status: Literal["ready"] = "ready"
    checks: dict[str, str]


class DeletedFiles(BaseModel):
    """Answer of the legacy `DELETE /api/cleanup/{job_id}`."""

    job_id: str
    deleted_files: list[str]
    count: int


class ComparisonCreate(BaseModel):
    """Compare an attempt with a reference: two succeeded jobs of the caller (or one job with
    itself)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reference_job_id": "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11",
                    "attempt_job_id": "6f1d2a7e-1c55-4b8e-9d0e-2b8e1f4c9a20",
                    "mirror": "auto",
                    "video": True,
                    "webhook_url": "https://hooks.example.com/dance",
                }
            ]
        },
    )

    reference_job_id: uuid.UUID = Field(description="The job of the reference performance.")
    attempt_job_id: uuid.UUID = Field(description="The job of the attempt to score.")
    mirror: StrictBool | Literal["auto"] = Field(
        default="auto",
        description="Mirror the attempt (left and right swapped): true for a dancer who faced "
        'the reference, as in a class; false never; "auto" (default) tries both and keeps the '
        "one that matches the reference better.",
    )
    video: bool = Field(
        default=True,
        description="Also make comparison.mp4: both performances side by side and in step, "
        "with the reference's soundtrack (needs both jobs' annotated videos).",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Called when the comparison ends (`comparison.succeeded` or "
        "`comparison.failed`), checked as a job's `webhook_url` is.",
    )

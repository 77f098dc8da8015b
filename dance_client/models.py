"""The service's answers as typed models: the job status object, a page of jobs, an upload
ticket, a comparison, an error body. They mirror the gateway's OpenAPI document (a test
compares them field by field), and ignore fields a newer server adds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "processing", "retrying", "succeeded", "failed", "deleted", "expired"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "deleted", "expired"})

# What each output is called on disk (`Job.download`), by its field in `JobResult`.
OUTPUT_FILES: dict[str, str] = {
    "video_url": "annotated.mp4",
    "keypoints_url": "keypoints.json",
    "summary_url": "summary.json",
    "analysis_url": "analysis.json",
    "angles_url": "angles.csv",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ExportLink(_Model):
    """One motion file of a job: `motion.bvh`, `markers.trc`, `world_landmarks.csv` (with
    several dancers a BVH and a TRC each, `person` their id)."""

    name: str
    format: str
    person: int | None = None
    url: str
    link: str


class JobResult(_Model):
    """Presigned URLs of a succeeded job's outputs, valid until `expires_at`."""

    video_url: str
    keypoints_url: str
    summary_url: str | None = None
    analysis_url: str | None = None
    angles_url: str | None = None
    exports: list[ExportLink] = Field(default_factory=list)
    exports_note: str | None = None
    expires_at: datetime


class JobError(_Model):
    code: str
    message: str


class JobRetry(_Model):
    """Why a `retrying` job waits (a storage or database outage), and until when."""

    reason: str | None = None
    next_try_at: datetime | None = None
    waiting_since: datetime | None = None


class JobInput(_Model):
    filename: str | None = None
    size_bytes: int | None = None
    content_type: str | None = None


class JobStatus(_Model):
    """The job status object of `GET /api/status/{id}`."""

    job_id: str
    status: JobState
    progress: int = Field(ge=0, le=100)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metrics: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None
    result: JobResult | None = None
    error: JobError | None = None
    retry: JobRetry | None = None
    updated_at: datetime | None = None
    attempts: int = 0
    input: JobInput | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class JobList(_Model):
    items: list[JobStatus]
    next: str | None


class UploadTicket(_Model):
    """A presigned POST form for sending a file straight to storage."""

    upload_id: str
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    key: str
    job_url: str


# What each file of a comparison is called on disk (`download_comparison`), by its field in
# `ComparisonResult`.
COMPARISON_FILES: dict[str, str] = {
    "report_url": "comparison.json",
    "video_url": "comparison.mp4",
}


class ComparisonResult(_Model):
    """Presigned URLs of a succeeded comparison's report and video (None when it has no
    video), valid until `expires_at`."""

    report_url: str
    video_url: str | None = None
    expires_at: datetime


class ComparisonStatus(_Model):
    """A comparison of an attempt with a reference (`GET /api/comparisons/{id}`): what was
    asked (`mirror`: True, False or "auto"; `video`), its status and, once succeeded, its
    `summary` (score, scores, timing, judgements, feedback, ...) and files."""

    comparison_id: str
    status: Literal["queued", "processing", "succeeded", "failed"]
    reference_job_id: str
    attempt_job_id: str
    mirror: bool | Literal["auto"]
    video: bool
    webhook_url: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = None
    result: ComparisonResult | None = None
    error: dict[str, str] | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")


class ErrorBody(_Model):
    """Every error answer of the API: a stable `code`, a `message` for people."""

    code: str
    message: str
    details: Any | None = None

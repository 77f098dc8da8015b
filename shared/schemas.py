"""The job status object of the contract, built from a job row, and the comparison status
object, built from a comparison row. The API and the webhooks share them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.comparison_states import MirrorRequest, mirror_request
from shared.models import Comparison, ComparisonStatus, Job
from shared.outputs import JOB_OUTPUTS, VIDEO
from shared.states import JobStatus
from shared.storage import Storage


class ExportLink(BaseModel):
    """One motion file of a job (`motion.bvh`, `markers.trc`, `world_landmarks.csv`; with
    several dancers one BVH and one TRC each)."""

    name: str = Field(examples=["motion.bvh"])
    format: str = Field(examples=["bvh"], description="bvh, trc or csv")
    person: int | None = Field(
        default=None, description="the dancer's id; null for a file of every dancer (the CSV)"
    )
    url: str = Field(description="presigned download URL, until `expires_at`")
    link: str = Field(description="this API's route to it: a 302 to a fresh presigned URL")


class JobResult(BaseModel):
    # one `<name>_url` per output of `shared.outputs.JOB_OUTPUTS` (tests/shared/test_outputs.py)
    video_url: str
    keypoints_url: str
    summary_url: str | None = None
    analysis_url: str | None = None  # analysis.json (absent for jobs from before it existed)
    angles_url: str | None = None  # angles.csv
    exports: list[ExportLink] = Field(
        default_factory=list, description="the motion files the job made (its `exports` option)"
    )
    exports_note: str | None = Field(
        default=None, description="why a motion file asked for is missing (no dancer found)"
    )
    expires_at: datetime


class JobError(BaseModel):
    code: str = Field(examples=["not_a_video"])
    message: str = Field(examples=["the file is not a video this service can read"])


class JobRetry(BaseModel):
    """Why a `retrying` job waits, and when it is tried next."""

    reason: str | None = None
    next_try_at: datetime | None = None
    waiting_since: datetime | None = None


class JobInput(BaseModel):
    filename: str | None = None
    size_bytes: int | None = None
    content_type: str | None = None


class JobStatusPublic(BaseModel):
    """The job status object (contract fields first; the rest are extensions)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11",
                    "status": "succeeded",
                    "progress": 100,
                    "created_at": "2026-11-26T10:00:00Z",
                    "started_at": "2026-11-26T10:00:01Z",
                    "finished_at": "2026-11-26T10:00:09Z",
                    "metrics": {
                        "total_frames": 180,
                        "processed_frames": 180,
                        "detected_frames": 176,
                        "failed_frames": 0,
                        "detection_rate": 0.9778,
                        "average_visibility": 0.83,
                        "fps": 30.0,
                        "width": 1920,
                        "height": 1080,
                        "duration_s": 6.0,
                        "processing_time_s": 4.4,
                    },
                    "analysis": {
                        "movement_tempo_bpm": 118.4,
                        "movement_tempo_confidence": 0.61,
                        "music": {
                            "available": True,
                            "tempo_bpm": 120.2,
                            "on_beat_score": 0.78,
                            "mean_offset_ms": 24.0,
                            "offset_spread_ms": 41.5,
                        },
                        "ranges_of_motion": {"right_knee": 74.2, "left_knee": 69.8},
                    },
                    "result": {
                        "video_url": "https://s3.example.com/dance-videos/outputs/.../annotated.mp4?X-Amz-...",
                        "keypoints_url": "https://s3.example.com/.../keypoints.json?X-Amz-...",
                        "expires_at": "2026-11-26T11:00:09Z",
                    },
                    "error": None,
                }
            ]
        }
    )

    job_id: str
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metrics: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="Short form of analysis.json: movement tempo, music tempo and on-beat "
        "score, ranges of motion of the joint angles (degrees).",
    )
    result: JobResult | None = None
    error: JobError | None = None
    # extensions
    retry: JobRetry | None = None
    updated_at: datetime | None = None
    attempts: int = 0
    input: JobInput | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    links: dict[str, str] = Field(default_factory=dict)


def job_status(
    job: Job, storage: Storage | None, *, expires_s: int, base_url: str = ""
) -> JobStatusPublic:
    """The status object of `job`; on success with fresh presigned URLs (needs `storage`)."""
    status = JobStatus(job.status)
    job_id = str(job.id)
    result = None
    keys = job.output_keys or {}
    if status is JobStatus.succeeded and storage is not None and keys.get(VIDEO.name):
        urls: dict[str, Any] = {}
        for output in JOB_OUTPUTS:
            if key := keys.get(output.name):
                download = _download_name(job) if output is VIDEO else None
                urls[f"{output.name}_url"], expires_at = storage.presigned_get(
                    key, expires_s=expires_s, download_name=download
                )
        made = job.output_exports or {}
        exports = [
            ExportLink(
                name=item["name"],
                format=item["format"],
                person=item.get("person"),
                url=storage.presigned_get(
                    item["key"],
                    expires_s=expires_s,
                    download_name=_download_name(job, item["name"]),
                )[0],
                link=f"{base_url}/api/jobs/{job_id}/exports/{item['name']}",
            )
            for item in made.get("files") or []
        ]
        result = JobResult(
            expires_at=expires_at, exports=exports, exports_note=made.get("note"), **urls
        )
    error = None
    if status is JobStatus.failed and job.error_code:
        error = JobError(code=job.error_code, message=job.error_message or job.error_code)
    retry = None
    if status is JobStatus.retrying:
        retry = JobRetry(
            reason=job.retry_reason, next_try_at=job.next_retry_at, waiting_since=job.retrying_since
        )
    links = {"self": f"{base_url}/api/jobs/{job_id}"}
    if status is JobStatus.succeeded:
        links |= {
            output.name: f"{base_url}/api/jobs/{job_id}/{output.name}"
            for output in JOB_OUTPUTS
            if output.name in keys
        }
    return JobStatusPublic(
        job_id=job_id,
        status=status,
        progress=job.progress or 0,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        metrics=job.metrics,
        analysis=job.analysis,
        result=result,
        error=error,
        retry=retry,
        updated_at=job.updated_at,
        attempts=job.attempts or 0,
        input=JobInput(
            filename=job.input_filename,
            size_bytes=job.input_size_bytes,
            content_type=job.input_content_type,
        ),
        options=job.options or {},
        webhook_url=_without_user_info(job.webhook_url),
        links=links,
    )


def _without_user_info(url: str | None) -> str | None:
    """Credentials in a URL are never shown (rows from before they were refused may hold
    them)."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _download_name(job: Job, name: str = "annotated.mp4") -> str:
    stem = (job.input_filename or "video").rsplit(".", 1)[0]
    return f"{stem}_{name}"


# --- comparisons ------------------------------------------------------------------------------


class ComparisonResult(BaseModel):
    """Presigned URLs of a succeeded comparison's files, valid until `expires_at`."""

    report_url: str = Field(
        description="comparison.json: the whole report (the summary plus the alignment path "
        "and every judged moment)."
    )
    video_url: str | None = Field(
        default=None,
        description="comparison.mp4: the two performances side by side and in step (H.264); "
        "null when no video was asked for or a job has no annotated video.",
    )
    expires_at: datetime


_SUMMARY_EXAMPLE: dict[str, Any] = {
    "schema_version": 2,
    "score": 84.2,
    "similarity": 84.2,
    "scores": {"pose": 91.3, "timing": 78.0, "amplitude": 86.5},
    "weights": {"timing": 0.4, "amplitude": 0.25},
    "coverage": 0.97,
    "warnings": [],
    "mirror": False,
    "mirror_decision": {"mode": "auto", "mirrored": False},
    "timing": {"basis": "music", "mean_offset_s": 0.06, "verdict": "on time", "...": "..."},
    "judgements": {
        "unit": "beat",
        "counts": {"perfect": 9, "good": 5, "ok": 2, "miss": 1, "not_judged": 0},
    },
    "feedback": [
        {
            "reference_start_s": 4.0,
            "reference_end_s": 5.0,
            "score": 61.2,
            "text": "4.0-5.0 s (attempt 4.1-5.1 s): right knee 31° more bent than the "
            "reference; 0.18 s late on the beat",
            "...": "...",
        }
    ],
    "video": {
        "frames": 240,
        "width": 1288,
        "height": 440,
        "fps": 30.0,
        "duration_s": 8.0,
        "audio": True,
    },
    "...": "segments, worst_segments, joint_angle_differences, alignment, music, ...",
}


class ComparisonPublic(BaseModel):
    """A comparison: what was asked, its status and, once succeeded, its summary and files."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "comparison_id": "c7d2a4f0-0a51-4e1b-9d0b-5e3f6c1a2b3c",
                    "status": "succeeded",
                    "reference_job_id": "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11",
                    "attempt_job_id": "6f1d2a7e-1c55-4b8e-9d0e-2b8e1f4c9a20",
                    "mirror": "auto",
                    "video": True,
                    "webhook_url": "https://hooks.example.com/dance",
                    "created_at": "2026-12-10T10:00:00Z",
                    "started_at": "2026-12-10T10:00:01Z",
                    "finished_at": "2026-12-10T10:00:12Z",
                    "summary": _SUMMARY_EXAMPLE,
                    "result": {
                        "report_url": "https://s3.example.com/.../comparison.json?X-Amz-...",
                        "video_url": "https://s3.example.com/.../comparison.mp4?X-Amz-...",
                        "expires_at": "2026-12-10T11:00:12Z",
                    },
                    "error": None,
                    "links": {
                        "self": "/api/comparisons/c7d2...",
                        "report": "/api/comparisons/c7d2.../report",
                        "video": "/api/comparisons/c7d2.../video",
                    },
                }
            ]
        }
    )

    comparison_id: str
    status: Literal["queued", "processing", "succeeded", "failed"]
    reference_job_id: str
    attempt_job_id: str
    mirror: MirrorRequest = Field(
        description='The mirror mode asked for: true, false or "auto" (the summary\'s `mirror` '
        "says whether the attempt was mirrored)."
    )
    video: bool = Field(description="Whether the side-by-side video was asked for.")
    webhook_url: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = Field(
        default=None,
        description="The report without its long lists (`path`, `moments`): score (0-100), "
        "scores (pose, timing, amplitude), coverage, warnings, mirror, timing, judgements, "
        "feedback, segments, worst_segments, joint_angle_differences, video, ... "
        "(schema_version 2; comparisons made before it have version 1's similarity and "
        "segments).",
    )
    result: ComparisonResult | None = None
    error: dict[str, str] | None = None
    links: dict[str, str] = Field(default_factory=dict)


def comparison_status(
    comparison: Comparison, storage: Storage | None, *, expires_s: int, base_url: str = ""
) -> ComparisonPublic:
    """The status object of `comparison`; once succeeded with fresh presigned URLs of its
    report and video (needs `storage`)."""
    comparison_id = str(comparison.id)
    links = {"self": f"{base_url}/api/comparisons/{comparison_id}"}
    result = None
    succeeded = comparison.status == ComparisonStatus.succeeded.value
    if succeeded and comparison.report_key and storage is not None:
        report_url, expires_at = storage.presigned_get(comparison.report_key, expires_s=expires_s)
        links["report"] = f"{base_url}/api/comparisons/{comparison_id}/report"
        video_url = None
        if comparison.video_key:
            video_url, _ = storage.presigned_get(
                comparison.video_key, expires_s=expires_s, download_name="comparison.mp4"
            )
            links["video"] = f"{base_url}/api/comparisons/{comparison_id}/video"
        result = ComparisonResult(report_url=report_url, video_url=video_url, expires_at=expires_at)
    error = None
    if comparison.status == ComparisonStatus.failed.value and comparison.error_code:
        error = {"code": comparison.error_code, "message": comparison.error_message or ""}
    return ComparisonPublic(
        comparison_id=comparison_id,
        status=comparison.status,  # type: ignore[arg-type]
        reference_job_id=str(comparison.reference_job_id),
        attempt_job_id=str(comparison.attempt_job_id),
        mirror=mirror_request(comparison.mirror_mode),
        video=comparison.video,
        webhook_url=_without_user_info(comparison.webhook_url),
        created_at=comparison.created_at,
        started_at=comparison.started_at,
        finished_at=comparison.finished_at,
        summary=comparison.summary,
        result=result,
        error=error,
        links=links,
    )

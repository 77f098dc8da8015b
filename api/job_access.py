"""A tenant's view of its jobs: find one (another tenant's job is 404, like an unknown id),
present it, redirect to its outputs, delete it.

Every route that takes a job id goes through `load_job`, so isolation holds in one place.
"""

from __future__ import annotations

import uuid

from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from api.auth import Caller
from api.errors import APIError
from shared.config import Settings
from shared.models import Job
from shared.outputs import Output
from shared.schemas import JobStatusPublic, job_status
from shared.states import JobStatus, mark_deleted
from shared.storage import Storage


def base_url(settings: Settings) -> str:
    return (settings.API_PUBLIC_URL or "").rstrip("/")


def present(job: Job, storage: Storage | None, settings: Settings) -> JobStatusPublic:
    """The status object of `job`, with fresh presigned URLs when it succeeded."""
    return job_status(
        job, storage, expires_s=settings.PRESIGNED_URL_EXPIRY_S, base_url=base_url(settings)
    )


def job_not_found(raw_id: object) -> APIError:
    return APIError(404, "job_not_found", f"no job with id {str(raw_id)[:64]!r}")


def parse_job_id(raw: str) -> uuid.UUID:
    """A job id from the path; malformed ids are unknown ids (404)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise job_not_found(raw) from None


def find_job(session: Session, caller: Caller, job_id: uuid.UUID) -> Job | None:
    """The caller's job with this id, or None (also when it belongs to another tenant)."""
    return session.scalars(
        select(Job).where(Job.id == job_id, Job.tenant_id == caller.tenant_id)
    ).one_or_none()


def load_job(session: Session, caller: Caller, raw_id: str) -> Job:
    """The caller's job, or 404 `job_not_found`: another tenant's job is not told apart from
    a job that does not exist."""
    job = find_job(session, caller, parse_job_id(raw_id))
    if job is None:
        raise job_not_found(raw_id)
    return job


def job_gone(job: Job, settings: Settings) -> APIError | None:
    """The 410 of a job whose files are gone (`job_deleted`, `job_expired`), else None."""
    status = JobStatus(job.status)
    if status is JobStatus.deleted:
        return APIError(410, "job_deleted", f"job {job.id} was deleted")
    if status is JobStatus.expired:
        return APIError(
            410,
            "job_expired",
            f"job {job.id} expired: its files were removed after {settings.RETENTION_DAYS} days",
        )
    return None


def _succeeded(job: Job, settings: Settings) -> None:
    """Nothing, if the job has outputs; else the error saying why not."""
    if (gone := job_gone(job, settings)) is not None:
        raise gone
    status = JobStatus(job.status)
    if status is JobStatus.failed:
        raise APIError(
            409,
            "job_failed",
            f"job {job.id} failed ({job.error_code}): no outputs",
            details={"error": {"code": job.error_code, "message": job.error_message}},
        )
    if status is not JobStatus.succeeded:
        raise APIError(
            409,
            "job_not_finished",
            f"job {job.id} is {status.value}; try again later",
            headers={"Retry-After": "5"},
        )


def _redirect(job: Job, key: str, name: str, storage: Storage, settings: Settings) -> Response:
    stem = (job.input_filename or "video").rsplit(".", 1)[0] or "video"
    url, _ = storage.presigned_get(
        key, expires_s=settings.PRESIGNED_URL_EXPIRY_S, download_name=f"{stem}_{name}"
    )
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def output_redirect(job: Job, output: Output, storage: Storage, settings: Settings) -> Response:
    """302 to a fresh presigned URL of one output, or the error saying why not."""
    _succeeded(job, settings)
    key = (job.output_keys or {}).get(output.name)
    if not key:
        raise APIError(404, "output_not_found", f"job {job.id} has no {output.name} output")
    return _redirect(job, key, output.file_name, storage, settings)


def export_redirect(job: Job, name: str, storage: Storage, settings: Settings) -> Response:
    """302 to a fresh presigned URL of one of the job's motion files (by its name, as the
    status object lists them), or the error saying why not."""
    _succeeded(job, settings)
    files = (job.output_exports or {}).get("files") or []
    key = next((item["key"] for item in files if item["name"] == name), None)
    if key is None:
        known = ", ".join(item["name"] for item in files) or "none"
        raise APIError(
            404, "output_not_found", f"job {job.id} has no motion file {name!r} (it has: {known})"
        )
    return _redirect(job, key, name, storage, settings)


def delete_job_and_objects(
    session: Session, storage: Storage, caller: Caller, raw_id: str
) -> tuple[Job, list[str]]:
    """Mark the caller's job deleted (committed first, so a worker stops), then delete its
    objects. Repeating it is harmless: objects left by an earlier failure are deleted then."""
    job = load_job(session, caller, raw_id)
    job = mark_deleted(session, job.id) or job
    session.commit()
    return job, storage.delete_job_objects(job.id)

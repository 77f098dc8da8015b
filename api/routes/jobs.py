"""Jobs: submit a video, follow its status, fetch its outputs, list and delete jobs."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import SessionDep, SettingsDep, StorageDep
from api.errors import APIError, error_responses, from_validation_error
from api.schemas import (
    JobFromUpload,
    JobList,
    parse_idempotency_key,
    parse_options,
    parse_webhook_url,
)
from api.upload import (
    BODY_OVERHEAD_BYTES,
    SNIFF_BYTES,
    VideoFormReader,
    clean_filename,
    empty_file,
    max_file_bytes,
    multipart_boundary,
    not_a_video,
    too_large,
    video_content_type,
)
from shared.config import Settings
from shared.db import session_scope
from shared.media_types import sniff_container
from shared.models import Job
from shared.queue import enqueue_job
from shared.schemas import JobStatusPublic, job_status
from shared.states import JobStatus, mark_deleted
from shared.storage import Storage, input_key

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["jobs"])

JSON_BODY_MAX_BYTES = 64 * 1024
ENQUEUE_TIMEOUT_S = 5.0
Output = Literal["video", "keypoints", "summary"]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe submission: a second request with the same key answers the "
        "job created by the first one, without uploading again (<= 255 characters).",
    ),
]

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["video"],
    "properties": {
        "video": {
            "type": "string",
            "format": "binary",
            "description": "The video (MP4/MOV, WebM/MKV, AVI, MPEG, MPEG-TS, FLV, Ogg), at "
            "most `MAX_UPLOAD_MB` MiB.",
        },
        "webhook_url": {
            "type": "string",
            "maxLength": 2048,
            "description": "http(s) URL POSTed a signed `job.succeeded`/`job.failed` event.",
            "examples": ["https://example.com/hooks/dance"],
        },
        "options": {
            "type": "string",
            "description": "JSON object: `min_detection_confidence`, `min_tracking_confidence` "
            "(0..1; defaults from the server settings).",
            "examples": ['{"min_detection_confidence": 0.6}'],
        },
    },
}
SUBMIT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            "application/json": {"schema": JobFromUpload.model_json_schema()},
        },
    }
}
SUBMIT_DESCRIPTION = """\
Send a dance video and get a job back at once; processing happens in the background.

- **multipart/form-data**: the file field `video`, optional fields `webhook_url` and
  `options` (JSON). The file is streamed to storage as it arrives.
- **application/json**: `{"upload_id": ..., "webhook_url": ..., "options": {...}}` for a
  file already uploaded with `POST /api/uploads`.

Answers **202** with the job status object and `Location: /api/status/{job_id}`. With an
`Idempotency-Key` header, repeating the request answers the same job (header
`Idempotent-Replayed: true`) and the body is not read again.
"""


# --- helpers --------------------------------------------------------------------------------


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


def load_job(session: Session, raw_id: str) -> Job:
    job = session.get(Job, parse_job_id(raw_id))
    if job is None:
        raise job_not_found(raw_id)
    return job


def _accepted(
    response: Response, job: Job, storage: Storage, settings: Settings, *, replayed: bool
) -> JobStatusPublic:
    response.status_code = 202
    response.headers["Location"] = f"{base_url(settings)}/api/status/{job.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return present(job, storage, settings)


def _find_by_idempotency_key(key: str) -> Job | None:
    with session_scope() as session:
        return session.scalars(select(Job).where(Job.idempotency_key == key)).one_or_none()


class _DuplicateJob(Exception):
    def __init__(self, existing: Job | None):
        self.existing = existing


def _insert_job(job: Job) -> Job:
    """Insert and commit `job`; `_DuplicateJob` when its id or idempotency key is taken."""
    try:
        with session_scope() as session:
            session.add(job)
    except IntegrityError:
        if job.idempotency_key:
            existing = _find_by_idempotency_key(job.idempotency_key)
            if existing is not None:
                raise _DuplicateJob(existing) from None
        with session_scope() as session:
            if session.get(Job, job.id) is not None:
                raise _DuplicateJob(None) from None
        raise
    return job


async def _enqueue(job_id: uuid.UUID) -> None:
    """Queue the committed job; failures are logged only (the reconciler re-enqueues)."""
    with anyio.move_on_after(ENQUEUE_TIMEOUT_S) as scope:
        try:
            await anyio.to_thread.run_sync(enqueue_job, job_id, abandon_on_cancel=True)
        except Exception:
            log.exception("job %s: could not enqueue; left queued for the reconciler", job_id)
    if scope.cancelled_caught:
        log.error("job %s: enqueue timed out; left queued for the reconciler", job_id)


async def _delete_objects_quietly(storage: Storage, job_id: uuid.UUID) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await anyio.to_thread.run_sync(storage.delete_job_objects, job_id)
        except Exception:
            log.warning("job %s: could not delete refused input", job_id, exc_info=True)


async def _read_json_body(request: Request) -> Any:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > JSON_BODY_MAX_BYTES:
                raise APIError(
                    413, "body_too_large", f"JSON body larger than {JSON_BODY_MAX_BYTES} bytes"
                )
    except ClientDisconnect:
        raise APIError(400, "upload_interrupted", "the client disconnected") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise APIError(422, "invalid_json", f"the body is not valid JSON: {exc}") from None


# --- submission -----------------------------------------------------------------------------


async def submit_job(
    request: Request,
    response: Response,
    settings: Settings,
    storage: Storage,
    idempotency_key: str | None,
) -> JobStatusPublic:
    """Create a job from a multipart upload or from a direct-to-storage upload; 202."""
    key = parse_idempotency_key(idempotency_key)
    if key is not None:
        existing = await run_in_threadpool(_find_by_idempotency_key, key)
        if existing is not None:
            return _accepted(response, existing, storage, settings, replayed=True)

    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        job = await _job_from_upload(request, settings, storage, key)
    else:
        boundary = multipart_boundary(content_type)
        if boundary is None:
            raise APIError(
                415, "unsupported_media_type",
                "send multipart/form-data with the file field `video`, "
                "or application/json with an `upload_id`",
            )
        job = await _job_from_multipart(request, boundary, settings, storage, key)

    try:
        job = await run_in_threadpool(_insert_job, job)
    except _DuplicateJob as dup:
        if dup.existing is not None:  # lost a race on the same Idempotency-Key
            if media_type != "application/json":
                await _delete_objects_quietly(storage, job.id)
            return _accepted(response, dup.existing, storage, settings, replayed=True)
        raise APIError(409, "job_exists", f"upload {job.id} already has a job") from None
    except BaseException:
        if media_type != "application/json":
            await _delete_objects_quietly(storage, job.id)
        raise
    await _enqueue(job.id)
    return _accepted(response, job, storage, settings, replayed=False)


async def _job_from_multipart(
    request: Request, boundary: bytes, settings: Settings, storage: Storage, key: str | None
) -> Job:
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + BODY_OVERHEAD_BYTES:
        error = too_large(limit)
        error.headers["Connection"] = "close"  # the body is not read
        raise error
    job_id = uuid.uuid4()
    reader = VideoFormReader(
        storage,
        key_for=partial(input_key, job_id),
        max_bytes=limit,
        field_parsers={
            "webhook_url": parse_webhook_url,
            "options": partial(parse_options, settings=settings),
        },
    )
    form = await reader.read(request.stream(), boundary)
    video = form.video
    return Job(
        id=job_id,
        status=JobStatus.queued.value,
        input_key=video.key,
        input_filename=video.filename,
        input_size_bytes=video.size,
        input_content_type=video.content_type,
        options=form.fields.get("options") or parse_options(None, settings),
        webhook_url=form.fields.get("webhook_url"),
        idempotency_key=key,
    )


def _job_exists(job_id: uuid.UUID) -> bool:
    with session_scope() as session:
        return session.get(Job, job_id) is not None


async def _job_from_upload(
    request: Request, settings: Settings, storage: Storage, key: str | None
) -> Job:
    try:
        body = JobFromUpload.model_validate(await _read_json_body(request))
    except ValidationError as exc:
        fields = {err["loc"][0] for err in exc.errors() if err["loc"]}
        if "options" in fields:
            raise from_validation_error(exc, "invalid_options", "invalid options") from None
        if "webhook_url" in fields:
            raise from_validation_error(
                exc, "invalid_webhook_url", "webhook_url must be a string"
            ) from None
        raise from_validation_error(exc, "validation_error", "invalid job request") from None
    webhook_url = parse_webhook_url(body.webhook_url)
    options = parse_options(body.options, settings)
    upload_id = body.upload_id

    if await run_in_threadpool(_job_exists, upload_id):
        raise APIError(409, "job_exists", f"upload {upload_id} already has a job")
    # inputs/<id>/source, then maybe an extension
    found = await run_in_threadpool(storage.find_first, input_key(upload_id))
    if found is None:
        raise APIError(
            400, "upload_not_found",
            f"nothing was uploaded for upload {upload_id} (or its upload URL expired)",
        )
    object_key, size, stored_type = found
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    refusal: APIError | None = None
    container: str | None = None
    if size > limit:
        refusal = too_large(limit)
    elif size == 0:
        refusal = empty_file()
    else:
        head = await run_in_threadpool(storage.read_head, object_key, SNIFF_BYTES)
        container = sniff_container(head)
        if container is None:
            refusal = not_a_video()
    if refusal is not None:
        await _delete_objects_quietly(storage, upload_id)  # nobody can use it any more
        raise refusal
    assert container is not None
    return Job(
        id=upload_id,
        status=JobStatus.queued.value,
        input_key=object_key,
        input_filename=clean_filename(object_key.rsplit("/", 1)[-1]),
        input_size_bytes=size,
        input_content_type=video_content_type(stored_type, container),
        options=options,
        webhook_url=webhook_url,
        idempotency_key=key,
    )


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobStatusPublic,
    summary="Submit a video for analysis",
    description=SUBMIT_DESCRIPTION,
    openapi_extra=SUBMIT_OPENAPI,
    responses={
        202: {"description": "Accepted; `Location` points at the status URL."},
        **error_responses(400, 409, 413, 415, 422),
    },
)
async def create_job(
    request: Request,
    response: Response,
    settings: SettingsDep,
    storage: StorageDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobStatusPublic:
    return await submit_job(request, response, settings, storage, idempotency_key)


# --- reading --------------------------------------------------------------------------------


@router.get(
    "/status/{job_id}",
    response_model=JobStatusPublic,
    summary="Job status",
    description="The job status object; when succeeded it holds fresh presigned URLs of the "
    "outputs (`result`), when failed an `error` with a code.",
    responses=error_responses(404),
)
def get_status(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    return present(load_job(session, job_id), storage, settings)


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    summary="Job status (same as /api/status/{job_id})",
    responses=error_responses(404),
)
def get_job(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    return present(load_job(session, job_id), storage, settings)


def output_redirect(job: Job, output: Output, storage: Storage, settings: Settings) -> Response:
    """302 to a fresh presigned URL of one output, or the error saying why not."""
    status = JobStatus(job.status)
    if status is JobStatus.deleted:
        raise APIError(410, "job_deleted", f"job {job.id} was deleted")
    if status is JobStatus.failed:
        raise APIError(
            409, "job_failed", f"job {job.id} failed ({job.error_code}): no outputs",
            details={"error": {"code": job.error_code, "message": job.error_message}},
        )
    if status is not JobStatus.succeeded:
        raise APIError(
            409, "job_not_finished", f"job {job.id} is {status.value}; try again later",
            headers={"Retry-After": "5"},
        )
    key = {
        "video": job.output_video_key,
        "keypoints": job.output_keypoints_key,
        "summary": job.output_summary_key,
    }[output]
    if not key:
        raise APIError(404, "output_not_found", f"job {job.id} has no {output} output")
    stem = (job.input_filename or "video").rsplit(".", 1)[0] or "video"
    download_name = {
        "video": f"{stem}_annotated.mp4",
        "keypoints": f"{stem}_keypoints.json",
        "summary": f"{stem}_summary.json",
    }[output]
    url, _ = storage.presigned_get(
        key, expires_s=settings.PRESIGNED_URL_EXPIRY_S, download_name=download_name
    )
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


_OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect to a presigned storage URL, valid `PRESIGNED_URL_EXPIRY_S`."},
    **error_responses(404, 409, 410),
}


@router.get(
    "/jobs/{job_id}/video",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download the annotated video",
    description="The input video with the pose skeleton drawn on it (H.264 MP4).",
    responses=_OUTPUT_RESPONSES,
)
def get_video(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return output_redirect(load_job(session, job_id), "video", storage, settings)


@router.get(
    "/jobs/{job_id}/keypoints",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download the keypoints",
    description="keypoints.json: per frame, the 33 BlazePose landmarks (x, y, z, visibility).",
    responses=_OUTPUT_RESPONSES,
)
def get_keypoints(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return output_redirect(load_job(session, job_id), "keypoints", storage, settings)


@router.get(
    "/jobs/{job_id}/summary",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download the summary",
    description="summary.json: the movement metrics of the job.",
    responses=_OUTPUT_RESPONSES,
)
def get_summary(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return output_redirect(load_job(session, job_id), "summary", storage, settings)


# --- listing --------------------------------------------------------------------------------


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), str(job.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, uuid.UUID(job_id)
    except (ValueError, TypeError):
        raise APIError(422, "invalid_cursor", "cursor is not one this API returned") from None


@router.get(
    "/jobs",
    response_model=JobList,
    summary="List jobs",
    description="Jobs newest first. Follow `next` for the following page. Deleted jobs are "
    "hidden unless `include_deleted=true` or `status=deleted`.",
    responses=error_responses(422),
)
def list_jobs(
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="From a previous page's `next`.")
    ] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    include_deleted: Annotated[bool, Query(description="Also list deleted jobs.")] = False,
) -> JobList:
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    elif not include_deleted:
        stmt = stmt.where(Job.status != JobStatus.deleted.value)
    if cursor:
        created_at, job_id = _decode_cursor(cursor)
        stmt = stmt.where(tuple_(Job.created_at, Job.id) < tuple_(created_at, job_id))
    jobs = list(session.scalars(stmt))
    page, more = jobs[:limit], len(jobs) > limit
    next_url = None
    if more:
        params: dict[str, Any] = {"limit": limit, "cursor": _encode_cursor(page[-1])}
        if status is not None:
            params["status"] = status.value
        if include_deleted:
            params["include_deleted"] = "true"
        next_url = f"{base_url(settings)}/api/jobs?{urlencode(params)}"
    return JobList(items=[present(job, storage, settings) for job in page], next=next_url)


# --- deleting -------------------------------------------------------------------------------


def delete_job_and_objects(
    session: Session, storage: Storage, raw_id: str
) -> tuple[Job, list[str]]:
    """Mark the job deleted (committed first, so a worker stops), then delete its objects.

    Repeating it is harmless: objects left by an earlier failure are deleted then.
    """
    job = load_job(session, raw_id)
    job = mark_deleted(session, job.id) or job
    session.commit()
    return job, storage.delete_job_objects(job.id)


@router.delete(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    summary="Delete a job and its files",
    description="Deletes the input and outputs from storage and marks the job `deleted`. "
    "Deleting again answers 200 too.",
    responses=error_responses(404),
)
def delete_job(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    job, _ = delete_job_and_objects(session, storage, job_id)
    return present(job, None, settings)

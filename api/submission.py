"""How a submission becomes a job: `POST /api/jobs` (and the legacy `POST /api/analyze`).

Two forms:
- multipart: the file streams to `inputs/<job_id>/` as it arrives (`api.multipart_reader`);
- JSON `{"upload_id"}`: a file the tenant uploaded to `uploads/<tenant>/<upload_id>/` with
  a presigned POST is copied server side to the job's own input key, checked there, and the
  upload is removed: whatever is written to the upload location later changes nothing.

Either way: the caller's quota of jobs in flight (`MAX_JOBS_IN_FLIGHT`, 429 `too_many_jobs`),
idempotency (`Idempotency-Key`, per tenant, 24 h; a replay asking something else is 422
`idempotency_key_reused`), the row committed before the task is queued, and nothing left in
storage when the request is refused.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from functools import partial

import anyio
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.auth import Caller
from api.errors import APIError, from_validation_error
from api.job_admission import (
    Duplicate,
    Submitted,
    check_in_flight,
    find_by_key,
    insert_job,
    own_job_exists,
    replay,
)
from api.job_params import (
    check_model,
    check_webhook_target,
    fingerprint,
    parse_idempotency_key,
    parse_options,
    parse_webhook_field,
)
from api.json_body import read_json_body
from api.multipart_reader import (
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
from api.schemas import JobFromUpload
from shared import logs
from shared.config import Settings
from shared.db import session_scope
from shared.job_queries import mark_enqueued
from shared.media_types import sniff_container
from shared.models import Job
from shared.queue import enqueue_job
from shared.states import JobStatus
from shared.storage import Storage
from shared.storage_keys import input_key, upload_prefix

log = logging.getLogger(__name__)

ENQUEUE_TIMEOUT_S = 5.0


class UploadSlots:
    """A cap on the uploads one API process streams at once (`MAX_CONCURRENT_UPLOADS`): each
    holds a connection, an upload part in memory and a thread now and then. Beyond the cap:
    503 with Retry-After. Used from the event loop only, so a plain counter is safe."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0

    def acquire(self) -> None:
        if self.in_use >= self.limit:
            raise APIError(
                503,
                "too_many_uploads",
                f"{self.limit} uploads are already in progress; try again shortly",
                headers={"Retry-After": "5", "Connection": "close"},
            )
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1


async def submit(
    request: Request,
    caller: Caller,
    settings: Settings,
    storage: Storage,
    slots: UploadSlots,
    raw_idempotency_key: str | None,
) -> Submitted:
    """Create a job from a multipart upload or from a direct upload (see module docstring)."""
    key = parse_idempotency_key(raw_idempotency_key)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        return await _from_upload(request, caller, settings, storage, key)
    boundary = multipart_boundary(content_type)
    if boundary is None:
        raise APIError(
            415,
            "unsupported_media_type",
            "send multipart/form-data with the file field `video`, "
            "or application/json with an `upload_id`",
        )
    slots.acquire()
    try:
        return await _from_multipart(request, boundary, caller, settings, storage, key)
    finally:
        slots.release()


async def _from_multipart(
    request: Request,
    boundary: bytes,
    caller: Caller,
    settings: Settings,
    storage: Storage,
    key: str | None,
) -> Submitted:
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + BODY_OVERHEAD_BYTES:
        error = too_large(limit)
        error.headers["Connection"] = "close"  # the body is not read
        raise error
    earlier = await run_in_threadpool(find_by_key, caller.tenant_id, key) if key else None
    if earlier is None:
        await run_in_threadpool(check_in_flight, caller, settings.MAX_JOBS_IN_FLIGHT)
    job_id = uuid.uuid4()
    reader = VideoFormReader(
        storage,
        key_for=partial(input_key, job_id),
        max_bytes=limit,
        field_parsers={"webhook_url": parse_webhook_field, "options": parse_options},
        idle_timeout_s=settings.UPLOAD_IDLE_TIMEOUT_S,
        store=earlier is None,  # a replay is read to compare it, never stored again
    )
    form = await reader.read(request.stream(), boundary)
    video, webhook_url = form.video, form.fields.get("webhook_url")
    options = form.fields.get("options") or parse_options(None)
    asked = fingerprint(source=f"sha256:{video.sha256}", webhook_url=webhook_url, options=options)
    if earlier is not None:
        return replay(earlier, asked)
    job = Job(
        id=job_id,
        tenant_id=caller.tenant_id,
        status=JobStatus.queued.value,
        input_key=video.key,
        input_filename=video.filename,
        input_size_bytes=video.size,
        input_content_type=video.content_type,
        options=options.resolved(settings),
        webhook_url=webhook_url,
        idempotency_key=key,
        request_id=logs.current("request_id"),
        idempotency_fingerprint=asked,
    )
    try:
        await check_webhook_target(webhook_url, settings)
        await check_model(options, settings)
        submitted = await _insert_and_enqueue(job, settings)
    except BaseException:
        await _delete_quietly(storage, job.id)
        raise
    if submitted.replayed:  # an identical request won the race: ours is not needed
        await _delete_quietly(storage, job.id)
    return submitted


async def _from_upload(
    request: Request, caller: Caller, settings: Settings, storage: Storage, key: str | None
) -> Submitted:
    body = _validate_upload_request(
        await read_json_body(request, idle_timeout_s=settings.UPLOAD_IDLE_TIMEOUT_S)
    )
    webhook_url = parse_webhook_field(body.webhook_url)
    options = parse_options(body.options)
    upload_id = body.upload_id
    asked = fingerprint(source=f"upload:{upload_id}", webhook_url=webhook_url, options=options)
    if key and (earlier := await run_in_threadpool(find_by_key, caller.tenant_id, key)):
        return replay(earlier, asked)
    await check_webhook_target(webhook_url, settings)
    await check_model(options, settings)
    await run_in_threadpool(check_in_flight, caller, settings.MAX_JOBS_IN_FLIGHT)

    upload = await run_in_threadpool(storage.find_first, upload_prefix(caller.tenant_id, upload_id))
    if await run_in_threadpool(own_job_exists, caller, upload_id):
        if upload is not None:  # written again after the job took the first file: unused
            await _delete_quietly(storage, keys=[upload[0]])
        raise _job_exists(upload_id)
    if upload is None:
        raise APIError(
            400,
            "upload_not_found",
            f"nothing was uploaded for upload {upload_id} (or its upload URL expired)",
        )
    upload_key, _, stored_type = upload
    # The job's own copy, under a name no other request uses: later writes to the upload
    # location, or a concurrent request for the same upload, cannot change it.
    own_key = input_key(upload_id, upload_key, tag=secrets.token_hex(4))
    try:
        size, container = await _accept_copy(storage, upload_key, own_key, settings)
        job = Job(
            id=upload_id,
            tenant_id=caller.tenant_id,
            status=JobStatus.queued.value,
            input_key=own_key,
            input_filename=clean_filename(upload_key.rsplit("/", 1)[-1]),
            input_size_bytes=size,
            input_content_type=video_content_type(stored_type, container),
            options=options.resolved(settings),
            webhook_url=webhook_url,
            idempotency_key=key,
            request_id=logs.current("request_id"),
            idempotency_fingerprint=asked,
        )
        submitted = await _insert_and_enqueue(job, settings)
    except BaseException:
        await _delete_quietly(storage, keys=[own_key])
        raise
    # Accepted once: the upload is spent. (After losing a race, only our copy goes.)
    await _delete_quietly(storage, keys=[own_key if submitted.replayed else upload_key])
    return submitted


def _validate_upload_request(raw: object) -> JobFromUpload:
    try:
        return JobFromUpload.model_validate(raw)
    except ValidationError as exc:
        fields = {err["loc"][0] for err in exc.errors() if err["loc"]}
        if "options" in fields:
            raise from_validation_error(exc, "invalid_options", "invalid options") from None
        if "webhook_url" in fields:
            raise from_validation_error(
                exc, "invalid_webhook_url", "webhook_url must be a string"
            ) from None
        raise from_validation_error(exc, "validation_error", "invalid job request") from None


async def _accept_copy(
    storage: Storage, upload_key: str, own_key: str, settings: Settings
) -> tuple[int, str]:
    """Copy the upload to `own_key` and check the copy; returns its size and container.
    A refused upload is deleted (nobody can use it any more)."""
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    await run_in_threadpool(storage.copy, upload_key, own_key)
    size = await run_in_threadpool(storage.head, own_key) or 0
    refusal: APIError | None = None
    container = None
    if size > limit:
        refusal = too_large(limit)
    elif size == 0:
        refusal = empty_file()
    else:
        container = sniff_container(
            await run_in_threadpool(storage.read_head, own_key, SNIFF_BYTES)
        )
        if container is None:
            refusal = not_a_video()
    if refusal is not None:
        await _delete_quietly(storage, keys=[upload_key])
        raise refusal
    assert container is not None
    return size, container


async def _insert_and_enqueue(job: Job, settings: Settings) -> Submitted:
    try:
        job = await run_in_threadpool(insert_job, job, settings.MAX_JOBS_IN_FLIGHT)
    except Duplicate as dup:
        if dup.earlier is None:
            raise _job_exists(job.id) from None
        return replay(dup.earlier, job.idempotency_fingerprint or "")
    await _enqueue(job.id)
    return Submitted(job, replayed=False)


def _job_exists(job_id: uuid.UUID) -> APIError:
    return APIError(409, "job_exists", f"upload {job_id} already has a job")


async def _enqueue(job_id: uuid.UUID) -> None:
    """Queue the committed job and note it (`enqueued_at`); a failure is logged only: the
    reconciler sends the message of a job that has none."""
    with anyio.move_on_after(ENQUEUE_TIMEOUT_S) as scope:
        try:
            await anyio.to_thread.run_sync(enqueue_job, job_id, abandon_on_cancel=True)
            await run_in_threadpool(_note_enqueued, job_id)
        except Exception:
            log.exception("job %s: could not enqueue; left queued for the reconciler", job_id)
    if scope.cancelled_caught:
        log.error("job %s: enqueue timed out; left queued for the reconciler", job_id)


def _note_enqueued(job_id: uuid.UUID) -> None:
    with session_scope() as session:
        mark_enqueued(session, [job_id])


async def _delete_quietly(
    storage: Storage, job_id: uuid.UUID | None = None, *, keys: list[str] | None = None
) -> None:
    """Remove what a refused request stored (a job's objects, or given keys); never raises."""
    with anyio.CancelScope(shield=True):
        try:
            if job_id is not None:
                await anyio.to_thread.run_sync(storage.delete_job_objects, job_id)
            if keys:
                await anyio.to_thread.run_sync(storage.delete_keys, keys)
        except Exception:
            log.warning("could not delete the objects of a refused request", exc_info=True)

"""Routes of the first version of the service, kept working for existing clients."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep, SettingsDep, StorageDep
from api.errors import error_responses
from api.routes.jobs import (
    SUBMIT_OPENAPI,
    IdempotencyKeyHeader,
    delete_job_and_objects,
    load_job,
    output_redirect,
    submit_job,
)
from api.schemas import DeletedFiles
from shared.schemas import JobStatusPublic

router = APIRouter(prefix="/api", tags=["legacy"])


@router.post(
    "/analyze",
    status_code=202,
    response_model=JobStatusPublic,
    summary="Submit a video (legacy; same as POST /api/jobs)",
    openapi_extra=SUBMIT_OPENAPI,
    responses=error_responses(400, 409, 413, 415, 422),
    deprecated=True,
)
async def analyze(
    request: Request,
    response: Response,
    settings: SettingsDep,
    storage: StorageDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobStatusPublic:
    return await submit_job(request, response, settings, storage, idempotency_key)


@router.get(
    "/download/{job_id}",
    status_code=302,
    summary="Download the annotated video (legacy; same as GET /api/jobs/{job_id}/video)",
    responses={302: {"description": "Redirect to a presigned URL."},
               **error_responses(404, 409, 410)},
    deprecated=True,
)
def download(
    job_id: str, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return output_redirect(load_job(session, job_id), "video", storage, settings)


@router.delete(
    "/cleanup/{job_id}",
    response_model=DeletedFiles,
    summary="Delete a job's files (legacy; like DELETE /api/jobs/{job_id})",
    description="Deletes the job's objects and marks it deleted; answers the deleted keys.",
    responses=error_responses(404),
    deprecated=True,
)
def cleanup(job_id: str, session: SessionDep, storage: StorageDep) -> DeletedFiles:
    job, keys = delete_job_and_objects(session, storage, job_id)
    return DeletedFiles(job_id=str(job.id), deleted_files=keys, count=len(keys))

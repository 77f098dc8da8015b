"""Routes of the first version of the service, kept working for existing clients (with the
same API keys and tenant isolation as the others)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth import CallerDep
from api.deps import (
    IdempotencyKeyHeader,
    SessionDep,
    SettingsDep,
    StorageDep,
    get_upload_slots,
)
from api.errors import error_responses
from api.job_access import delete_job_and_objects, load_job, output_redirect
from api.openapi_docs import SUBMIT_OPENAPI
from api.rate_limit import enforce_rate_limit
from api.routes.jobs import SUBMIT_RESPONSES, accept
from api.schemas import DeletedFiles
from api.submission import UploadSlots
from shared.outputs import VIDEO
from shared.schemas import JobStatusPublic

router = APIRouter(prefix="/api", tags=["legacy"], dependencies=[Depends(enforce_rate_limit)])


@router.post(
    "/analyze",
    status_code=202,
    response_model=JobStatusPublic,
    summary="Submit a video (legacy; same as POST /api/jobs)",
    openapi_extra=SUBMIT_OPENAPI,
    responses=SUBMIT_RESPONSES,
    deprecated=True,
)
async def analyze(
    request: Request,
    response: Response,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
    slots: Annotated[UploadSlots, Depends(get_upload_slots)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobStatusPublic:
    return await accept(request, response, caller, settings, storage, slots, idempotency_key)


@router.get(
    "/download/{job_id}",
    status_code=302,
    summary="Download the annotated video (legacy; same as GET /api/jobs/{job_id}/video)",
    responses={
        302: {"description": "Redirect to a presigned URL."},
        **error_responses(401, 404, 409, 410, 429),
    },
    deprecated=True,
)
def download(
    job_id: str, caller: CallerDep, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> Response:
    return output_redirect(load_job(session, caller, job_id), VIDEO, storage, settings)


@router.delete(
    "/cleanup/{job_id}",
    response_model=DeletedFiles,
    summary="Delete a job's files (legacy; like DELETE /api/jobs/{job_id})",
    description="Deletes the job's objects and marks it deleted; answers the deleted keys.",
    responses=error_responses(401, 404, 429),
    deprecated=True,
)
def cleanup(
    job_id: str, caller: CallerDep, session: SessionDep, storage: StorageDep
) -> DeletedFiles:
    job, keys = delete_job_and_objects(session, storage, caller, job_id)
    return DeletedFiles(job_id=str(job.id), deleted_files=keys, count=len(keys))

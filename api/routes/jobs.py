"""Jobs: submit a video, follow its status, fetch its outputs, list and delete jobs.

Every route acts for the calling tenant (`CallerDep`); another tenant's job is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.auth import CallerDep
from api.deps import (
    IdempotencyKeyHeader,
    SessionDep,
    SettingsDep,
    StorageDep,
    get_upload_slots,
)
from api.errors import error_responses
from api.job_access import (
    base_url,
    delete_job_and_objects,
    export_redirect,
    load_job,
    output_redirect,
    present,
)
from api.listing import page_of_jobs
from api.openapi_docs import SUBMIT_DESCRIPTION, SUBMIT_OPENAPI
from api.prometheus import SUBMITTED
from api.rate_limit import enforce_rate_limit
from api.schemas import JobList
from api.submission import UploadSlots, submit
from shared.outputs import JOB_OUTPUTS, Output
from shared.schemas import JobStatusPublic
from shared.states import JobStatus

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[Depends(enforce_rate_limit)])

SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted; `Location` points at the status URL."},
    **error_responses(400, 401, 408, 409, 413, 415, 422, 429, 503),
}


async def accept(
    request: Request,
    response: Response,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
    slots: UploadSlots,
    idempotency_key: str | None,
) -> JobStatusPublic:
    """Submit, then answer 202 with the status object and its `Location`."""
    submitted = await submit(request, caller, settings, storage, slots, idempotency_key)
    job = submitted.job
    response.status_code = 202
    response.headers["Location"] = f"{base_url(settings)}/api/status/{job.id}"
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        SUBMITTED.inc()
    return present(job, storage, settings)


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobStatusPublic,
    summary="Submit a video for analysis",
    description=SUBMIT_DESCRIPTION,
    openapi_extra=SUBMIT_OPENAPI,
    responses=SUBMIT_RESPONSES,
)
async def create_job(
    request: Request,
    response: Response,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
    slots: Annotated[UploadSlots, Depends(get_upload_slots)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JobStatusPublic:
    return await accept(request, response, caller, settings, storage, slots, idempotency_key)


# --- reading --------------------------------------------------------------------------------


@router.get(
    "/status/{job_id}",
    response_model=JobStatusPublic,
    summary="Job status",
    description="The job status object; when succeeded it holds fresh presigned URLs of the "
    "outputs (`result`), when failed an `error` with a code.",
    responses=error_responses(401, 404, 429),
)
def get_status(
    job_id: str, caller: CallerDep, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    return present(load_job(session, caller, job_id), storage, settings)


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    summary="Job status (same as /api/status/{job_id})",
    responses=error_responses(401, 404, 429),
)
def get_job(
    job_id: str, caller: CallerDep, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    return present(load_job(session, caller, job_id), storage, settings)


OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect to a presigned storage URL, valid `PRESIGNED_URL_EXPIRY_S`."},
    **error_responses(401, 404, 409, 410, 429),
}


def _download(output: Output) -> Callable[..., Response]:
    def download(
        job_id: str,
        caller: CallerDep,
        session: SessionDep,
        storage: StorageDep,
        settings: SettingsDep,
    ) -> Response:
        return output_redirect(load_job(session, caller, job_id), output, storage, settings)

    return download


# One download route for every output of the registry: `GET /api/jobs/{job_id}/<name>`,
# each path spelled out (not `/{output}`), so `/events` and unknown names route as before.
for _output in JOB_OUTPUTS:
    router.add_api_route(
        f"/jobs/{{job_id}}/{_output.name}",
        _download(_output),
        methods=["GET"],
        name=f"get_{_output.name}",  # the operationId as when each had its own function
        status_code=302,
        response_class=RedirectResponse,
        summary=_output.summary,
        description=_output.description,
        responses=OUTPUT_RESPONSES,
    )


@router.get(
    "/jobs/{job_id}/exports/{name}",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download a motion file",
    description="One of the files in `result.exports` by its name: `motion.bvh` (a skeleton's "
    "joint rotations: Blender, MotionBuilder), `markers.trc` (marker trajectories: OpenSim), "
    "`world_landmarks.csv` (the 3D landmarks in metres); with several dancers "
    "`motion_person<id>.bvh` and `markers_person<id>.trc`. Units and axes: see the manual "
    "(docs/motion.md).",
    responses=OUTPUT_RESPONSES,
)
def get_export(
    job_id: str,
    name: Annotated[str, Path(max_length=100)],
    caller: CallerDep,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    return export_redirect(load_job(session, caller, job_id), name, storage, settings)


@router.get(
    "/jobs",
    response_model=JobList,
    summary="List jobs",
    description="The caller's jobs, newest first. Follow `next` for the following page. "
    "Deleted jobs are hidden unless `include_deleted=true` or `status=deleted`.",
    responses=error_responses(401, 422, 429),
)
def list_jobs(
    caller: CallerDep,
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
    page, next_url = page_of_jobs(
        session,
        caller,
        limit=limit,
        cursor=cursor,
        status=status,
        include_deleted=include_deleted,
        base_url=base_url(settings),
    )
    return JobList(items=[present(job, storage, settings) for job in page], next=next_url)


# --- deleting -------------------------------------------------------------------------------


@router.delete(
    "/jobs/{job_id}",
    response_model=JobStatusPublic,
    summary="Delete a job and its files",
    description="Deletes the input and outputs from storage and marks the job `deleted`. "
    "Deleting again answers 200 too.",
    responses=error_responses(401, 404, 429),
)
def delete_job(
    job_id: str, caller: CallerDep, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> JobStatusPublic:
    job, _ = delete_job_and_objects(session, storage, caller, job_id)
    return present(job, None, settings)

"""Comparisons: score an attempt against a reference performance (two finished jobs of the
caller), computed by a worker; poll `GET /api/comparisons/{id}`.

Every route acts for the calling tenant: another tenant's comparison or job is a 404.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.auth import Caller, CallerDep
from api.deps import SessionDep, SettingsDep, StorageDep
from api.errors import APIError, error_responses, from_validation_error
from api.job_access import base_url, find_job
from api.json_body import read_json_body
from api.rate_limit import enforce_rate_limit
from api.schemas import ComparisonCreate, ComparisonPublic, ComparisonResult
from shared.comparisons import create_comparison, fail_comparison
from shared.config import Settings
from shared.db import session_scope
from shared.models import Comparison, ComparisonStatus, Job
from shared.queue import enqueue_comparison
from shared.states import JobStatus
from shared.storage import Storage

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["comparisons"], dependencies=[Depends(enforce_rate_limit)])

CREATE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ComparisonCreate.model_json_schema()}},
    }
}


@router.post(
    "/comparisons",
    status_code=202,
    response_model=ComparisonPublic,
    summary="Compare an attempt with a reference",
    description="Both jobs must be succeeded jobs of the caller (404 `job_not_found`, 409 "
    "`job_not_succeeded` otherwise). Answers 202 with the comparison; a worker computes it.",
    openapi_extra=CREATE_OPENAPI,
    responses=error_responses(400, 401, 404, 408, 409, 413, 415, 422, 429, 503),
)
async def create(
    request: Request,
    response: Response,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> ComparisonPublic:
    raw = await read_json_body(request, idle_timeout_s=settings.UPLOAD_IDLE_TIMEOUT_S)
    try:
        body = ComparisonCreate.model_validate(raw)
    except ValidationError as exc:
        raise from_validation_error(exc, "validation_error", "invalid comparison") from None
    comparison = await run_in_threadpool(_insert, caller, body)
    try:
        await run_in_threadpool(enqueue_comparison, comparison.id)
    except Exception:
        log.exception("comparison %s: could not be queued", comparison.id)
        await run_in_threadpool(_fail_unqueued, comparison.id)
        raise APIError(
            503,
            "queue_unavailable",
            "the comparison could not be queued; try again",
            headers={"Retry-After": "5"},
        ) from None
    response.status_code = 202
    response.headers["Location"] = f"{base_url(settings)}/api/comparisons/{comparison.id}"
    return present_comparison(comparison, storage, settings)


@router.get(
    "/comparisons/{comparison_id}",
    response_model=ComparisonPublic,
    summary="Comparison status and summary",
    responses=error_responses(401, 404, 429),
)
def get_comparison(
    comparison_id: str,
    caller: CallerDep,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ComparisonPublic:
    return present_comparison(_load(session, caller, comparison_id), storage, settings)


@router.get(
    "/comparisons/{comparison_id}/report",
    status_code=302,
    response_class=RedirectResponse,
    summary="Download the full comparison report",
    description="comparison.json: the summary and the alignment path (302 to storage).",
    responses=error_responses(401, 404, 409, 429),
)
def get_report(
    comparison_id: str,
    caller: CallerDep,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> Response:
    comparison = _load(session, caller, comparison_id)
    if comparison.status != ComparisonStatus.succeeded.value or not comparison.report_key:
        raise APIError(
            409,
            "comparison_not_finished"
            if comparison.status != ComparisonStatus.failed.value
            else "comparison_failed",
            f"comparison {comparison.id} is {comparison.status}: no report",
        )
    url, _ = storage.presigned_get(
        comparison.report_key,
        expires_s=settings.PRESIGNED_URL_EXPIRY_S,
        download_name="comparison.json",
    )
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def present_comparison(
    comparison: Comparison, storage: Storage, settings: Settings
) -> ComparisonPublic:
    base = base_url(settings)
    result = None
    links = {"self": f"{base}/api/comparisons/{comparison.id}"}
    if comparison.status == ComparisonStatus.succeeded.value and comparison.report_key:
        url, expires_at = storage.presigned_get(
            comparison.report_key, expires_s=settings.PRESIGNED_URL_EXPIRY_S
        )
        result = ComparisonResult(report_url=url, expires_at=expires_at)
        links["report"] = f"{base}/api/comparisons/{comparison.id}/report"
    error = None
    if comparison.status == ComparisonStatus.failed.value and comparison.error_code:
        error = {"code": comparison.error_code, "message": comparison.error_message or ""}
    return ComparisonPublic(
        comparison_id=str(comparison.id),
        status=comparison.status,  # type: ignore[arg-type]
        reference_job_id=str(comparison.reference_job_id),
        attempt_job_id=str(comparison.attempt_job_id),
        mirror=comparison.mirror,
        created_at=comparison.created_at,
        started_at=comparison.started_at,
        finished_at=comparison.finished_at,
        summary=comparison.summary,
        result=result,
        error=error,
        links=links,
    )


def _insert(caller: Caller, body: ComparisonCreate) -> Comparison:
    """Check both jobs (the caller's, succeeded, with keypoints) and commit the row."""
    with session_scope() as session:
        for role, job_id in (
            ("reference", body.reference_job_id),
            ("attempt", body.attempt_job_id),
        ):
            _check_job(find_job(session, caller, job_id), role, job_id)
        comparison = create_comparison(
            session,
            tenant_id=caller.tenant_id,
            reference_job_id=body.reference_job_id,
            attempt_job_id=body.attempt_job_id,
            mirror=body.mirror,
        )
        session.commit()
        session.refresh(comparison)
        session.expunge(comparison)
    return comparison


def _check_job(job: Job | None, role: str, job_id: uuid.UUID) -> None:
    if job is None:
        raise APIError(404, "job_not_found", f"no job with id {str(job_id)!r} ({role})")
    if job.status != JobStatus.succeeded.value or not job.output_keypoints_key:
        raise APIError(
            409,
            "job_not_succeeded",
            f"the {role} job {job_id} is {job.status}: only succeeded jobs can be compared",
            details={"role": role, "status": job.status},
        )


def _fail_unqueued(comparison_id: uuid.UUID) -> None:
    with session_scope() as session:
        fail_comparison(
            session, comparison_id, code="queue_unavailable", message="could not be queued"
        )


def _load(session, caller: Caller, raw_id: str) -> Comparison:
    try:
        comparison_id = uuid.UUID(raw_id)
    except ValueError:
        comparison_id = None
    comparison = (
        None
        if comparison_id is None
        else session.scalars(
            select(Comparison).where(
                Comparison.id == comparison_id, Comparison.tenant_id == caller.tenant_id
            )
        ).one_or_none()
    )
    if comparison is None:
        raise APIError(404, "comparison_not_found", f"no comparison with id {raw_id[:64]!r}")
    return comparison

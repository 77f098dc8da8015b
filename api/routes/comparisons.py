"""Comparisons: score an attempt against a reference performance (two finished jobs of the
caller, or one job with itself), computed by a worker into a report and, if asked, a
side-by-side video; poll `GET /api/comparisons/{id}` or pass a `webhook_url`.

Every route acts for the calling tenant: another tenant's comparison or job is a 404.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.auth import Caller, CallerDep
from api.deps import SessionDep, SettingsDep, StorageDep
from api.errors import APIError, error_responses, from_validation_error
from api.job_access import base_url, find_job, job_gone
from api.job_params import check_webhook_target, parse_webhook_field
from api.json_body import read_json_body
from api.rate_limit import enforce_rate_limit
from api.schemas import ComparisonCreate
from shared import logs
from shared.comparison_states import create_comparison, fail_comparison, mirror_mode_of
from shared.config import Settings
from shared.db import session_scope
from shared.models import Comparison, ComparisonStatus, Job
from shared.outputs import COMPARISON_OUTPUTS, Output
from shared.queue import enqueue_comparison
from shared.schemas import ComparisonPublic, comparison_status
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
CREATE_ERRORS = error_responses(
    400,
    401,
    404,
    408,
    409,
    410,
    413,
    415,
    422,
    429,
    503,
    described={
        404: "A job is unknown, or another tenant's (`job_not_found`; `details.role` says "
        "which: `reference` or `attempt`).",
        409: "A job has not succeeded (`job_not_succeeded`, `details.status`).",
        410: "A job was deleted (`job_deleted`) or its files expired (`job_expired`).",
        422: "Validation error (`validation_error`: e.g. `mirror` not true, false or "
        '"auto"; `invalid_webhook_url`, `webhook_url_not_allowed`).',
        503: "The comparison could not be queued (`queue_unavailable`); see `Retry-After`.",
    },
)
FILE_ERRORS = error_responses(
    401,
    404,
    409,
    410,
    429,
    described={
        404: "Unknown comparison, or another tenant's (`comparison_not_found`); a comparison "
        "without that file (`output_not_found`).",
        409: "The comparison has not finished (`comparison_not_finished`) or failed "
        "(`comparison_failed`).",
        410: "Its files were removed after `RETENTION_DAYS` (`comparison_expired`).",
    },
)


@router.post(
    "/comparisons",
    status_code=202,
    response_model=ComparisonPublic,
    summary="Compare an attempt with a reference",
    description="Both jobs must be succeeded jobs of the caller (a job may be compared with "
    "itself: it scores 100). Answers 202 with the comparison and a `Location` header; a "
    "worker computes the report (`comparison.json`) and, unless `video` is false, the "
    "side-by-side video (`comparison.mp4`). With a `webhook_url` the worker POSTs "
    '`{"type": "comparison.succeeded" | "comparison.failed", "data": <the comparison>}` '
    "when it ends, signed as job webhooks are.",
    openapi_extra=CREATE_OPENAPI,
    responses=CREATE_ERRORS,
)
async def create(
    request: Request,
    response: Response,
    caller: CallerDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> ComparisonPublic:
    raw = await read_json_body(request, idle_timeout_s=settings.UPLOAD_IDLE_TIMEOUT_S)
    body = _validate(raw)
    webhook_url = parse_webhook_field(body.webhook_url)
    await check_webhook_target(webhook_url, settings)
    comparison = await run_in_threadpool(
        _insert, caller, body, webhook_url, logs.current("request_id"), settings
    )
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
    description="What was asked (`mirror`, `video`, `webhook_url`), the status and, once "
    "succeeded, the summary and fresh presigned URLs of `comparison.json` and "
    "`comparison.mp4` (`result`).",
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


def _download(output: Output) -> Callable[..., Response]:
    def download(
        comparison_id: str,
        caller: CallerDep,
        session: SessionDep,
        storage: StorageDep,
        settings: SettingsDep,
    ) -> Response:
        comparison = _load(session, caller, comparison_id)
        return _file_redirect(comparison, output, storage, settings)

    return download


# One download route per output of the registry (`shared.outputs.COMPARISON_OUTPUTS`), as
# for jobs: `GET /api/comparisons/{comparison_id}/<name>`.
for _output in COMPARISON_OUTPUTS:
    router.add_api_route(
        f"/comparisons/{{comparison_id}}/{_output.name}",
        _download(_output),
        methods=["GET"],
        name=f"get_{_output.name}",
        status_code=302,
        response_class=RedirectResponse,
        summary=_output.summary,
        description=_output.description,
        responses=FILE_ERRORS,
    )


def present_comparison(
    comparison: Comparison, storage: Storage, settings: Settings
) -> ComparisonPublic:
    """The status object of `comparison`, with fresh presigned URLs when it succeeded."""
    return comparison_status(
        comparison,
        storage,
        expires_s=settings.PRESIGNED_URL_EXPIRY_S,
        base_url=base_url(settings),
    )


def _file_redirect(
    comparison: Comparison, output: Output, storage: Storage, settings: Settings
) -> Response:
    """302 to a fresh presigned URL of one of the comparison's files, or the error saying
    why not."""
    if comparison.status != ComparisonStatus.succeeded.value:
        failed = comparison.status == ComparisonStatus.failed.value
        raise APIError(
            409,
            "comparison_failed" if failed else "comparison_not_finished",
            f"comparison {comparison.id} is {comparison.status}: no {output.name}",
            headers=None if failed else {"Retry-After": "5"},
        )
    if not comparison.report_key:  # the retention purge removed its files
        raise APIError(
            410,
            "comparison_expired",
            f"comparison {comparison.id} expired: its files were removed after "
            f"{settings.RETENTION_DAYS} days",
        )
    key = comparison.output_key(output.name)
    if not key:
        raise APIError(
            404,
            "output_not_found",
            f"comparison {comparison.id} has no video (none was asked for, or a job has no "
            "annotated video)",
        )
    url, _ = storage.presigned_get(
        key, expires_s=settings.PRESIGNED_URL_EXPIRY_S, download_name=output.file_name
    )
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


def _validate(raw: object) -> ComparisonCreate:
    try:
        return ComparisonCreate.model_validate(raw)
    except ValidationError as exc:
        if any(err["loc"][:1] == ("webhook_url",) for err in exc.errors()):
            raise from_validation_error(
                exc, "invalid_webhook_url", "webhook_url must be a string"
            ) from None
        raise from_validation_error(exc, "validation_error", "invalid comparison") from None


def _insert(
    caller: Caller,
    body: ComparisonCreate,
    webhook_url: str | None,
    request_id: str | None,
    settings: Settings,
) -> Comparison:
    """Check both jobs (the caller's, succeeded, with keypoints) and commit the row."""
    with session_scope() as session:
        for role, job_id in (
            ("reference", body.reference_job_id),
            ("attempt", body.attempt_job_id),
        ):
            _check_job(find_job(session, caller, job_id), role, job_id, settings)
        comparison = create_comparison(
            session,
            tenant_id=caller.tenant_id,
            reference_job_id=body.reference_job_id,
            attempt_job_id=body.attempt_job_id,
            mirror_mode=mirror_mode_of(body.mirror),
            video=body.video,
            webhook_url=webhook_url,
            request_id=request_id,
        )
        session.commit()
        session.refresh(comparison)
        session.expunge(comparison)
    return comparison


def _check_job(job: Job | None, role: str, job_id: uuid.UUID, settings: Settings) -> None:
    if job is None:
        raise APIError(
            404,
            "job_not_found",
            f"no job with id {str(job_id)!r} ({role})",
            details={"role": role},
        )
    if (gone := job_gone(job, settings)) is not None:
        raise APIError(gone.status, gone.code, f"{gone.message} ({role})", details={"role": role})
    if job.status != JobStatus.succeeded.value or not (job.output_keys or {}).get("keypoints"):
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

"""A tenant's jobs, newest first, a page at a time: an opaque cursor of (created_at, id),
served by the index `ix_jobs_tenant_id_created_at_id`."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from api.auth import Caller
from api.errors import APIError
from shared.models import Job
from shared.states import JobStatus


def encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), str(job.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, uuid.UUID(job_id)
    except (ValueError, TypeError):
        raise APIError(422, "invalid_cursor", "cursor is not one this API returned") from None


def page_of_jobs(
    session: Session,
    caller: Caller,
    *,
    limit: int,
    cursor: str | None,
    status: JobStatus | None,
    include_deleted: bool,
    base_url: str,
) -> tuple[list[Job], str | None]:
    """One page of the caller's jobs and the URL of the next page (None on the last)."""
    stmt = (
        select(Job)
        .where(Job.tenant_id == caller.tenant_id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        stmt = stmt.where(Job.status == status.value)
    elif not include_deleted:
        stmt = stmt.where(Job.status != JobStatus.deleted.value)
    if cursor:
        created_at, job_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Job.created_at, Job.id) < tuple_(created_at, job_id))
    jobs = list(session.scalars(stmt))
    page, more = jobs[:limit], len(jobs) > limit
    if not more:
        return page, None
    params: dict[str, Any] = {"limit": limit, "cursor": encode_cursor(page[-1])}
    if status is not None:
        params["status"] = status.value
    if include_deleted:
        params["include_deleted"] = "true"
    return page, f"{base_url}/api/jobs?{urlencode(params)}"

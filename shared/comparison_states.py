"""Comparisons of an attempt with a reference: the row's transitions, each one guarded in the
database so that a redelivered task changes nothing twice, and the mirror mode as the API
writes it (true, false or "auto") and the row stores it (`on`, `off`, `auto`).

    queued ─▶ processing ─▶ succeeded | failed
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import Comparison, ComparisonStatus, MirrorMode, utcnow

UNFINISHED = (ComparisonStatus.queued.value, ComparisonStatus.processing.value)

# How the API (and `compare_folders`) writes a mirror mode: true, false or "auto".
MirrorRequest = bool | Literal["auto"]
_REQUESTS: dict[MirrorMode, MirrorRequest] = {
    MirrorMode.auto: "auto",
    MirrorMode.on: True,
    MirrorMode.off: False,
}


def mirror_request(mode: str | MirrorMode) -> MirrorRequest:
    """The mode as the API shows it and the comparison takes it: "auto", true or false."""
    return _REQUESTS[MirrorMode(mode)]


def mirror_mode_of(request: MirrorRequest) -> MirrorMode:
    """The mode of an API request's `mirror` (true, false or "auto")."""
    if request == "auto":
        return MirrorMode.auto
    return MirrorMode.on if request else MirrorMode.off


def create_comparison(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    reference_job_id: uuid.UUID,
    attempt_job_id: uuid.UUID,
    mirror_mode: MirrorMode = MirrorMode.auto,
    video: bool = True,
    webhook_url: str | None = None,
    request_id: str | None = None,
) -> Comparison:
    comparison = Comparison(
        tenant_id=tenant_id,
        reference_job_id=reference_job_id,
        attempt_job_id=attempt_job_id,
        mirror_mode=MirrorMode(mirror_mode).value,
        video=video,
        webhook_url=webhook_url,
        request_id=request_id,
        status=ComparisonStatus.queued.value,
        attempts=0,
    )
    session.add(comparison)
    session.flush()
    return comparison


def claim_comparison(session: Session, comparison_id: uuid.UUID) -> Comparison | None:
    """Start (or restart, after a worker died) an unfinished comparison; None when it is
    finished or unknown."""
    return _transition(
        session,
        comparison_id,
        status=ComparisonStatus.processing.value,
        started_at=utcnow(),
        attempts=Comparison.attempts + 1,
    )


def finish_comparison(
    session: Session,
    comparison_id: uuid.UUID,
    *,
    summary: dict[str, Any],
    report_key: str,
    video_key: str | None = None,
) -> Comparison | None:
    return _transition(
        session,
        comparison_id,
        status=ComparisonStatus.succeeded.value,
        summary=summary,
        report_key=report_key,
        video_key=video_key,
        finished_at=utcnow(),
    )


def fail_comparison(
    session: Session, comparison_id: uuid.UUID, *, code: str, message: str
) -> Comparison | None:
    return _transition(
        session,
        comparison_id,
        status=ComparisonStatus.failed.value,
        error_code=code,
        error_message=message,
        finished_at=utcnow(),
    )


def _transition(session: Session, comparison_id: uuid.UUID, **values: Any) -> Comparison | None:
    stmt = (
        update(Comparison)
        .where(Comparison.id == comparison_id, Comparison.status.in_(UNFINISHED))
        .values(**values)
        .returning(Comparison)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()

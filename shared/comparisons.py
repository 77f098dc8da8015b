"""Comparisons of an attempt with a reference: the row's transitions, each one guarded in the
database so that a redelivered task changes nothing twice.

    queued ─▶ processing ─▶ succeeded | failed
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import Comparison, ComparisonStatus, utcnow

UNFINISHED = (ComparisonStatus.queued.value, ComparisonStatus.processing.value)


def create_comparison(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    reference_job_id: uuid.UUID,
    attempt_job_id: uuid.UUID,
    mirror: bool = False,
) -> Comparison:
    comparison = Comparison(
        tenant_id=tenant_id,
        reference_job_id=reference_job_id,
        attempt_job_id=attempt_job_id,
        mirror=mirror,
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
    session: Session, comparison_id: uuid.UUID, *, summary: dict[str, Any], report_key: str
) -> Comparison | None:
    return _transition(
        session,
        comparison_id,
        status=ComparisonStatus.succeeded.value,
        summary=summary,
        report_key=report_key,
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

"""Run one comparison: fetch both jobs' keypoints, compare them (`worker.pipeline.compare`),
store the full report, record the summary.

Plain functions over the database, the bucket and the pipeline; the Celery task
(`dance.compare_jobs`) calls `run_comparison` and retries what `is_transient` accepts.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from pathlib import Path

from shared.comparisons import claim_comparison, fail_comparison, finish_comparison
from shared.db import session_scope
from shared.models import Job
from shared.storage import Storage
from shared.storage_errors import is_missing_object
from shared.storage_keys import comparison_key
from worker.pipeline import compare
from worker.pipeline.analysis import Performance, for_comparison

log = logging.getLogger(__name__)


def run_comparison(comparison_id: uuid.UUID, storage: Storage) -> str:
    """Compare, or record why not; the comparison's final status (or `skipped` when it was
    already finished). Transient storage and database errors propagate (the task retries)."""
    with session_scope() as session:
        comparison = claim_comparison(session, comparison_id)
        if comparison is None:
            return "skipped"
        mirror = comparison.mirror
        keys = {}
        for role, job_id in (
            ("reference", comparison.reference_job_id),
            ("attempt", comparison.attempt_job_id),
        ):
            job = session.get(Job, job_id)
            keys[role] = job.output_keypoints_key if job is not None else None
    log.info("comparison %s: started", comparison_id)
    try:
        with tempfile.TemporaryDirectory(prefix="dance-compare-") as tmp:
            performances = {
                role: _performance(storage, key, Path(tmp) / f"{role}.json")
                for role, key in keys.items()
            }
            report = compare.compare_performances(
                performances["reference"], performances["attempt"], mirror=mirror
            )
            report_path = Path(tmp) / "comparison.json"
            report_path.write_text(json.dumps(report) + "\n", encoding="utf-8")
            key = comparison_key(comparison_id)
            storage.upload_file(report_path, key, "application/json")
    except _Missing as exc:
        return _fail(comparison_id, "input_missing", str(exc))
    except ValueError as exc:  # too little pose, or durations more than 2x apart
        return _fail(comparison_id, "not_comparable", str(exc))
    except Exception as exc:
        if is_missing_object(exc):
            return _fail(comparison_id, "input_missing", "a job's keypoints are no longer stored")
        raise
    with session_scope() as session:
        finish_comparison(
            session, comparison_id, summary=compare.comparison_summary(report), report_key=key
        )
    log.info("comparison %s: similarity %s", comparison_id, report.get("similarity"))
    return "succeeded"


def fail_unavailable(comparison_id: uuid.UUID) -> str:
    return _fail(
        comparison_id,
        "dependency_unavailable",
        "storage or the database stayed unavailable; create the comparison again",
    )


class _Missing(Exception):
    pass


def _performance(storage: Storage, key: str | None, path: Path) -> compare.Performance:
    """A job's keypoints as the comparison reads them, with its smoothed angles."""
    if not key:
        raise _Missing("a job of this comparison has no keypoints (deleted or expired)")
    storage.download_file(key, path)
    return for_comparison(Performance.from_keypoints(path))


def _fail(comparison_id: uuid.UUID, code: str, message: str) -> str:
    log.info("comparison %s: failed: %s", comparison_id, message)
    with session_scope() as session:
        fail_comparison(session, comparison_id, code=code, message=message)
    return "failed"

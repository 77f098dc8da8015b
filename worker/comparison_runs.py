"""Run one comparison: fetch both jobs' outputs into a folder each, compare them
(`pipeline.compare.folders.compare_folders`), store the report and the side-by-side
video, record the summary.

Each folder holds the job's keypoints.json (needed), analysis.json (the music's beats) and
annotated.mp4 (the soundtrack and the pictures of comparison.mp4) as far as the job has them:
jobs from before the analysis have no analysis.json, and the comparison goes on without
what is missing (the report says what it could not do). A job compared with itself is
fetched once.

Plain functions over the database, the bucket and the pipeline; the Celery task
(`dance.compare_jobs`) calls `run_comparison`, retries what `is_transient` accepts and
queues the webhook of the outcome.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from pipeline.compare import ComparisonError, comparison_summary
from pipeline.compare.folders import compare_folders
from shared import logs, outputs
from shared.comparison_states import (
    MirrorRequest,
    claim_comparison,
    fail_comparison,
    finish_comparison,
    mirror_request,
)
from shared.config import settings
from shared.db import session_scope
from shared.models import Comparison, Job
from shared.outputs import COMPARISON_OUTPUTS, COMPARISON_REPORT, COMPARISON_VIDEO
from shared.storage import Storage
from shared.storage_errors import is_missing_object, storage_failure
from shared.storage_keys import comparison_output_key
from shared.webhooks.events import COMPARISON_FAILED, COMPARISON_SUCCEEDED
from worker.jobs import Outcome
from worker.transient import is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """What a claimed comparison asks for, read from its row and its jobs' rows."""

    reference_job_id: uuid.UUID
    attempt_job_id: uuid.UUID
    mirror: MirrorRequest
    video: bool
    files: dict[uuid.UUID, dict[str, str]]  # job -> {file name in its folder: object key}
    webhook: bool
    request_id: str | None


def run_comparison(comparison_id: uuid.UUID, storage: Storage) -> Outcome:
    """Compare, or record why not; the comparison's final status (`skipped` when it was
    already finished) and the webhook event to send, if it has a webhook URL. Transient
    storage and database errors propagate (the task retries)."""
    with session_scope() as session:
        comparison = claim_comparison(session, comparison_id)
        if comparison is None:
            return Outcome("skipped")
        started = comparison.attempts
        request = _request(session, comparison)
    if started > settings.JOB_MAX_ATTEMPTS:  # each earlier start lost its worker
        return _fail(
            comparison_id,
            "attempts_exhausted",
            f"started {started - 1} times without finishing (its worker was lost each time)",
        )
    with logs.bound(request_id=request.request_id or ""):
        log.info("comparison %s: started", comparison_id)
        return _run(comparison_id, request, storage)


def fail_unavailable(comparison_id: uuid.UUID) -> Outcome:
    return _fail(
        comparison_id,
        "dependency_unavailable",
        "storage or the database stayed unavailable; create the comparison again",
    )


def _request(session: Session, comparison: Comparison) -> Request:
    files = {}
    for job_id in (comparison.reference_job_id, comparison.attempt_job_id):
        job = session.get(Job, job_id)
        keys = (job.output_keys or {}) if job is not None else {}
        files[job_id] = {
            output.file_name: keys[output.name]
            for output in (outputs.KEYPOINTS, outputs.ANALYSIS, outputs.VIDEO)
            if keys.get(output.name)
        }
    return Request(
        reference_job_id=comparison.reference_job_id,
        attempt_job_id=comparison.attempt_job_id,
        mirror=mirror_request(comparison.mirror_mode),
        video=comparison.video,
        files=files,
        webhook=bool(comparison.webhook_url),
        request_id=comparison.request_id,
    )


def _run(comparison_id: uuid.UUID, request: Request, storage: Storage) -> Outcome:
    if missing := [
        str(job) for job, files in request.files.items() if outputs.KEYPOINTS.file_name not in files
    ]:
        return _fail(
            comparison_id,
            "input_missing",
            f"{'jobs' if len(missing) > 1 else 'job'} {', '.join(missing)}: no keypoints "
            "(deleted or expired)",
        )
    try:
        with tempfile.TemporaryDirectory(prefix="dance-compare-") as tmp:
            try:
                report = _compare(request, storage, Path(tmp))
            except ComparisonError as exc:  # bad or unusable input: fails once, with its code
                return _fail(comparison_id, exc.code, exc.message.replace(f"{tmp}/", ""))
            report_key, video_key = _upload(comparison_id, report, storage, Path(tmp) / "out")
    except SoftTimeLimitExceeded:
        return _fail(
            comparison_id,
            "time_limit_exceeded",
            f"the comparison took longer than {settings.JOB_SOFT_TIME_LIMIT_S} s",
        )
    except Exception as exc:
        if is_missing_object(exc):
            return _fail(comparison_id, "input_missing", "a job's keypoints are no longer stored")
        if is_transient(exc):
            raise
        if (failure := storage_failure(exc)) is not None:
            log.error("comparison %s: storage refused: %s", comparison_id, exc)
            return _fail(comparison_id, *failure)
        log.exception("comparison %s: failed unexpectedly", comparison_id)
        return _fail(
            comparison_id,
            "internal_error",
            f"the comparison failed unexpectedly ({type(exc).__name__})",
        )
    with session_scope() as session:
        done = finish_comparison(
            session,
            comparison_id,
            summary=comparison_summary(report),
            report_key=report_key,
            video_key=video_key,
        )
    if done is None:  # finished meanwhile by another delivery of the task
        return Outcome("skipped")
    log.info(
        "comparison %s: score %s%s",
        comparison_id,
        report.get("score"),
        ", with video" if video_key else "",
    )
    return Outcome("succeeded", COMPARISON_SUCCEEDED if request.webhook else None)


def _compare(request: Request, storage: Storage, tmp: Path) -> dict[str, Any]:
    """Both folders (one, for a job compared with itself), then the comparison into
    `tmp/out`."""
    folders = {
        job_id: _download(storage, files, tmp / str(job_id))
        for job_id, files in request.files.items()
    }
    return compare_folders(
        folders[request.reference_job_id],
        folders[request.attempt_job_id],
        tmp / "out",
        mirror=request.mirror,
        video=request.video,
    )


def _download(storage: Storage, files: dict[str, str], folder: Path) -> Path:
    """The job's files into `folder`; an optional one no longer stored is left out (its
    keypoints are not optional: that error propagates)."""
    folder.mkdir()
    for name, key in files.items():
        try:
            storage.download_file(key, folder / name)
        except Exception as exc:
            if name == outputs.KEYPOINTS.file_name or not is_missing_object(exc):
                raise
            log.info("%s is no longer stored: comparing without it", key)
    return folder


def _upload(
    comparison_id: uuid.UUID, report: dict[str, Any], storage: Storage, out: Path
) -> tuple[str, str | None]:
    """comparison.json and, when one was made, comparison.mp4; their keys."""
    keys: dict[str, str] = {}
    for output in COMPARISON_OUTPUTS:
        path = out / output.file_name
        if output is COMPARISON_VIDEO and not (report.get("video") and path.is_file()):
            continue  # made only when asked for
        keys[output.name] = comparison_output_key(comparison_id, output)
        storage.upload_file(path, keys[output.name], output.media_type)
    return keys[COMPARISON_REPORT.name], keys.get(COMPARISON_VIDEO.name)


def _fail(comparison_id: uuid.UUID, code: str, message: str) -> Outcome:
    log.info("comparison %s: failed: %s: %s", comparison_id, code, message)
    with session_scope() as session:
        failed = fail_comparison(session, comparison_id, code=code, message=message)
        webhook = failed is not None and bool(failed.webhook_url)
    if failed is None:  # finished meanwhile
        return Outcome("skipped")
    return Outcome("failed", COMPARISON_FAILED if webhook else None)

"""How an attempt makes its outputs: the whole video on this worker, or a long video in
segments across workers (`worker.split_jobs`). `worker.jobs` sees only these two functions,
whichever way the attempt runs."""

from __future__ import annotations

import uuid
from pathlib import Path

from pipeline.pose.models import require as require_model
from pipeline.runner import PipelineOptions, PipelineResult, analyze_video
from shared.storage import Storage
from worker import split_jobs
from worker.lease import LeaseKeeper
from worker.progress import JobProgress
from worker.scratch import Scratch


def make_outputs(
    job_id: uuid.UUID,
    attempt: int,
    source: Path,
    options: PipelineOptions,
    out: Path,
    *,
    storage: Storage,
    scratch: Scratch,
    lease: LeaseKeeper,
    worker: str,
) -> PipelineResult:
    """The attempt's outputs in `out`: split when `split_jobs` says so (a continued attempt
    goes on with its split), else the whole video here. A pose model this worker lacks fails
    before anything is split (`model_unavailable`)."""
    require_model(options.model)
    segments = split_jobs.segments_to_run(job_id, attempt, source, options)
    if segments is None:
        progress = JobProgress(job_id, attempt, lease)
        return analyze_video(source, out, options, on_progress=progress)
    return split_jobs.run_split(
        job_id,
        attempt,
        source,
        segments,
        options,
        out,
        storage=storage,
        scratch=scratch,
        lease=lease,
        worker=worker,
    )


def succeeded(job_id: uuid.UUID, result: PipelineResult, storage: Storage) -> None:
    """After the job row says succeeded: what a split run kept for its retries goes."""
    if result.metrics.get("segments"):
        split_jobs.forget_segments(job_id, storage)

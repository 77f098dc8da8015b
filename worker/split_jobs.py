"""One long video across many workers: split at keyframes, segments in parallel, stitch.

The job's own task is the coordinator. It holds the job's lease for the whole attempt, as for
a job run whole, and:

1. decides (`plan_split`): the video lasts SPLIT_MIN_SECONDS or more, one dancer, and other
   video workers are idle now (`worker.capacity`); otherwise the job runs whole, so a lone
   worker never pays for the cuts;
2. records the attempt's segments in `job_segments` and queues one `dance.process_segment`
   task per segment after the first;
3. takes free segments itself, one after another, like any helper, so the job finishes even
   when no helper comes; a segment whose worker died (its lease expired) is free again, so a
   failed segment is retried alone, and the job's attempt count is untouched;
4. meanwhile writes the job's progress, weighted by frames across the segments;
5. stitches the segments' outputs when all are done (`pipeline.segments.stitch`).

Helpers (`process_segment`) claim one segment each, store its outputs under the job's
`outputs/<job>/segments/<attempt>/<index>/` and mark it done. Everything is fenced by the
job's attempt (`shared.segment_states`): a DELETE, or a newer attempt, stops the segments at
their next progress write, and the job's one webhook comes from the coordinator.

Without a Celery result backend: the coordinator polls the segments' rows.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import av

from pipeline.errors import VideoInputError
from pipeline.options import pipeline_options
from pipeline.pose.models import ModelUnavailable
from pipeline.runner import (
    ANNOTATED_VIDEO,
    KEYPOINTS_JSON,
    SUMMARY_JSON,
    PipelineOptions,
    PipelineResult,
    analyze_video,
)
from pipeline.segments.cuts import Segment, plan_segments
from pipeline.segments.stitch import stitch
from pipeline.video.source import open_video
from shared.config import settings
from shared.db import session_scope
from shared.models import Job, JobSegment, SegmentStatus
from shared.queue import enqueue_segment
from shared.segment_states import (
    claim_segment,
    create_segments,
    exhausted_segment,
    fail_segment,
    finish_segment,
    release_segment,
    segments_of,
)
from shared.storage import Storage
from shared.storage_keys import segment_prefix, segments_prefix
from worker import prometheus, shutdown
from worker.capacity import idle_video_slots
from worker.failures import AttemptFailed
from worker.lease import LeaseKeeper
from worker.progress import JobCancelled, SegmentProgress, record_split_progress
from worker.scratch import Scratch
from worker.shutdown import ShuttingDown
from worker.transient import is_transient

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often the coordinator looks at its segments while helpers run them
SEGMENT_FILES = (
    (ANNOTATED_VIDEO, "video/mp4"),
    (KEYPOINTS_JSON, "application/json"),
    (SUMMARY_JSON, "application/json"),
)
DONE_MARK = "segment.done"  # in a segment's directory: complete on this disk


def segments_to_run(
    job_id: uuid.UUID, attempt: int, source: Path, options: PipelineOptions
) -> list[Segment] | None:
    """The attempt's segments: those recorded already (a continued attempt goes on with its
    split), else a new plan; None: run the video whole."""
    with session_scope() as session:
        rows = segments_of(session, job_id, attempt)
    return [_segment(row) for row in rows] or plan_split(source, options)


def plan_split(source: Path, options: PipelineOptions) -> list[Segment] | None:
    """The segments to process in parallel, or None to run the video whole."""
    if settings.SPLIT_MIN_SECONDS <= 0 or options.max_people > 1:
        return None
    with open_video(source, options.limits) as video:  # bad input is refused here, as whole
        duration = video.info.duration_s
    if duration is None or duration < settings.SPLIT_MIN_SECONDS:
        return None
    try:
        segments = plan_segments(
            source, segment_s=settings.SEGMENT_SECONDS, min_s=settings.SPLIT_MIN_SECONDS
        )
    except av.error.FFmpegError as exc:  # the packets cannot be read: the whole run says why
        log.warning("not split: %s", exc)
        return None
    if len(segments) < 2:
        return None
    helpers = idle_video_slots()
    if helpers < 1:
        log.info("not split into %d segments: no other video worker is idle", len(segments))
        return None
    log.info("split into %d segments for %d idle worker(s)", len(segments), helpers)
    return segments


def run_split(
    job_id: uuid.UUID,
    attempt: int,
    source: Path,
    segments: list[Segment],
    options: PipelineOptions,
    out: Path,
    *,
    storage: Storage,
    scratch: Scratch,
    lease: LeaseKeeper,
    worker: str,
) -> PipelineResult:
    """Coordinate the segments of this attempt (see the module docstring) and stitch them into
    the five outputs in `out`."""
    started = time.perf_counter()
    with session_scope() as session:
        create_segments(session, job_id, attempt, [asdict(segment) for segment in segments])
    for segment in segments[1:]:
        try:
            enqueue_segment(job_id, attempt, segment.index)
        except Exception as exc:  # no helper for it then: the coordinator takes it
            log.warning("job %s: segment %d not queued: %s", job_id, segment.index, exc)
    while True:
        shutdown.check()
        if lease.lost.is_set():
            raise JobCancelled()
        with session_scope() as session:
            rows = segments_of(session, job_id, attempt)
            exhausted = exhausted_segment(
                session, job_id, attempt, max_tries=settings.JOB_MAX_ATTEMPTS
            )
        _raise_if_failed(rows, exhausted)
        if all(row.status == SegmentStatus.done.value for row in rows):
            break
        with session_scope() as session:
            claimed = claim_segment(
                session,
                job_id,
                attempt,
                worker_host=worker,
                lease_s=settings.JOB_LEASE_S,
                max_tries=settings.JOB_MAX_ATTEMPTS,
            )
        if claimed is not None:
            directory = scratch.dir / f"segment-{claimed.index}"
            run_segment(claimed, source, options, storage, directory, job=lease)
            (directory / DONE_MARK).touch()
            prometheus.SEGMENTS.labels("done").inc()
            continue
        if not record_split_progress(job_id, attempt):
            raise JobCancelled()
        time.sleep(POLL_S)
    directories = [_segment_dir(row, scratch, storage) for row in rows]
    return stitch(source, directories, out, options, elapsed_s=time.perf_counter() - started)


def run_segment(
    row: JobSegment,
    source: Path,
    options: PipelineOptions,
    storage: Storage,
    directory: Path,
    *,
    job: LeaseKeeper | None = None,
) -> None:
    """Process a claimed segment: its outputs in `directory` and in storage, its row done.
    `job`: the coordinator's lease (it runs the segment itself). Whatever stops it midway
    gives the segment back at once, for the next worker."""
    shutil.rmtree(directory, ignore_errors=True)
    try:
        analyze_video(
            source,
            directory,
            options,
            on_progress=SegmentProgress(row, job=job),
            segment=_segment(row),
        )
        prefix = segment_prefix(row.job_id, row.attempt, row.index)
        for name, content_type in SEGMENT_FILES:
            storage.upload_file(directory / name, prefix + name, content_type)
        with session_scope() as session:
            done = finish_segment(session, row)
        if not done:
            storage.delete_keys([prefix + name for name, _ in SEGMENT_FILES])
            raise JobCancelled()
    except VideoInputError:
        raise
    except BaseException:
        _give_back(row)
        raise


def process_segment(
    job_id: uuid.UUID, attempt: int, index: int, storage: Storage, *, worker: str
) -> str:
    """A helper's task: run segment `index` of the job's `attempt` if it is still free. Every
    ending is written on the segment's row; nothing is raised to Celery. Returns how it
    ended (`dance_segments_total{result}`)."""
    result = _process_segment(job_id, attempt, index, storage, worker=worker)
    prometheus.SEGMENTS.labels(result).inc()
    return result


def _process_segment(
    job_id: uuid.UUID, attempt: int, index: int, storage: Storage, *, worker: str
) -> str:
    with session_scope() as session:
        row = claim_segment(
            session,
            job_id,
            attempt,
            index=index,
            worker_host=worker,
            lease_s=settings.JOB_LEASE_S,
            max_tries=settings.JOB_MAX_ATTEMPTS,
        )
        if row is None:
            return "skipped"  # taken already, done, or its job moved on
        job = session.get_one(Job, job_id)  # alive: the claim is fenced by it
        input_key, options = job.input_key, dict(job.options or {})
    log.info("job %s: segment %d of attempt %d on %s", job_id, index, attempt, worker)
    scratch = Scratch(settings.scratch_dir, job_id, attempt)  # the input is shared on one disk
    directory = scratch.dir / f"segment-{index}-{row.lease_token}"  # the coordinator's own
    try:
        source = scratch.input(
            Path(input_key).suffix, lambda path: storage.download_file(input_key, path)
        )
        run_segment(row, source, pipeline_options(options), storage, directory)
    except VideoInputError as exc:
        log.info("job %s: segment %d: bad input: %s", job_id, index, exc)
        with session_scope() as session:
            fail_segment(session, row, code=exc.code, message=exc.message)
        return "failed"
    except ModelUnavailable as exc:  # another worker, or the coordinator, has it
        log.warning("job %s: segment %d handed back: %s", job_id, index, exc.message)
        _give_back(row)
        return "released"
    except JobCancelled:
        log.info("job %s: segment %d stopped: the job was deleted or moved on", job_id, index)
        return "cancelled"
    except ShuttingDown:
        log.info("job %s: segment %d handed back: the worker shuts down", job_id, index)
        return "released"
    except Exception as exc:
        if is_transient(exc):
            log.warning("job %s: segment %d handed back: %s", job_id, index, exc)
        else:
            log.exception("job %s: segment %d failed; it will be tried again", job_id, index)
        return "released"
    shutil.rmtree(directory, ignore_errors=True)  # stored; the coordinator downloads it
    log.info("job %s: segment %d done", job_id, index)
    return "done"


def _raise_if_failed(rows: list[JobSegment], exhausted: JobSegment | None) -> None:
    """A segment refused as bad input fails the job with its code; one tried too often (its
    workers kept dying, or it kept failing) fails it `attempts_exhausted`."""
    for row in rows:
        if row.status == SegmentStatus.failed.value:
            error = VideoInputError(row.error_message or "a segment of the video is invalid")
            error.code = row.error_code or VideoInputError.code
            raise error
    if exhausted is not None:  # it could not be processed in JOB_MAX_ATTEMPTS tries
        raise AttemptFailed(
            "attempts_exhausted", f"segment {exhausted.index} was tried {exhausted.tries} times"
        )


def _segment(row: JobSegment) -> Segment:
    return Segment(
        index=row.index,
        start_pts=row.start_pts,
        end_pts=row.end_pts,
        first_frame=row.first_frame,
        frames=row.frames,
        start_s=row.start_s,
        end_s=row.end_s,
    )


def _segment_dir(row: JobSegment, scratch: Scratch, storage: Storage) -> Path:
    """The segment's outputs on this disk: made here, or downloaded from storage."""
    directory = scratch.dir / f"segment-{row.index}"
    if (directory / DONE_MARK).exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    prefix = segment_prefix(row.job_id, row.attempt, row.index)
    for name, _ in SEGMENT_FILES:
        storage.download_file(prefix + name, directory / name)
    (directory / DONE_MARK).touch()
    return directory


def _give_back(row: JobSegment) -> None:
    try:
        with session_scope() as session:
            release_segment(session, row)
    except Exception as exc:  # its lease expires instead
        log.warning("job %s: segment %d not released: %s", row.job_id, row.index, exc)


def forget_segments(job_id: uuid.UUID, storage: Storage) -> None:
    """The job succeeded: its segments' stored outputs are not needed any more."""
    try:
        keys = [key for key, _ in storage.objects_under(segments_prefix(job_id))]
        storage.delete_keys(keys, what=f"job {job_id} segments")
    except Exception as exc:  # left for the job's deletion or the retention purge
        log.warning("job %s: segment outputs not deleted: %s", job_id, exc)

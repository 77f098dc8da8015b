"""A long job split into segments (`worker/split_jobs.py`, `shared/segment_states.py`), run
in this process on the real Postgres and moto's S3 server: the segments' claims, leases and
fences, the coordinator finishing alone, a helper's segment picked up from storage, and the
failures a segment passes on to its job. Two real workers: `tests/e2e/test_split.py`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlalchemy import update

from pipeline.segments.cuts import plan_segments
from pipeline.segments.stitch import KEYPOINTS_JSON
from shared import states
from shared.config import settings
from shared.models import Job, JobSegment, utcnow
from shared.segment_states import (
    claim_segment,
    create_segments,
    fail_segment,
    finish_segment,
    frames_done,
    release_segment,
    renew_segment,
    segments_of,
)
from shared.storage_keys import segments_prefix
from tests.worker.test_jobs import load, submit  # noqa: F401 (fixture)
from worker import jobs, split_jobs

pytestmark = pytest.mark.services

FPS = 15
FRAMES = 120  # 8 s, a keyframe every second: cut into 4 segments of 2 s


@pytest.fixture
def split_settings(monkeypatch, tmp_path):
    """Split from 4 s into 2 s segments; one helper "idle"; segment messages kept here (no
    worker consumes this test's queue: the coordinator must finish alone)."""
    monkeypatch.setattr(settings, "SPLIT_MIN_SECONDS", 4.0)
    monkeypatch.setattr(settings, "SEGMENT_SECONDS", 2.0)
    monkeypatch.setattr(settings, "PROGRESS_INTERVAL_S", 0.05)
    monkeypatch.setattr(settings, "WORKER_SCRATCH_DIR", str(tmp_path / "scratch"))
    monkeypatch.setattr(split_jobs, "idle_video_slots", lambda: 1)
    queued: list[tuple] = []
    monkeypatch.setattr(split_jobs, "enqueue_segment", lambda *args: queued.append(args))
    return queued


@pytest.fixture
def long_clip_job(submit, tmp_path):  # noqa: F811
    from tests.clips import make_clip

    content = open(
        make_clip(tmp_path / "long.mp4", frames=FRAMES, fps=FPS, keyframe_every=FPS), "rb"
    ).read()
    return lambda: submit(content=content)


def stored(storage, prefix: str) -> list[str]:
    listing = storage.client.list_objects_v2(Bucket=storage.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def keypoints_of(storage, job_id) -> dict:
    body = storage.client.get_object(
        Bucket=storage.bucket, Key=f"outputs/{job_id}/{KEYPOINTS_JSON}"
    )
    return json.loads(body["Body"].read())


def test_segment_claims_are_exclusive_leased_fenced_and_capped(db, submit):  # noqa: F811
    job_id = submit()
    with db() as session:
        states.claim_job(session, job_id, worker_host="coordinator", lease_s=60)
        rows = [
            {
                "index": i,
                "start_pts": 30 * i,
                "end_pts": 30 * i + 30,
                "first_frame": 30 * i,
                "frames": 30,
                "start_s": 2.0 * i,
                "end_s": 2.0 * i + 2,
            }
            for i in range(3)
        ]
        create_segments(session, job_id, 1, rows)
        create_segments(session, job_id, 1, rows)  # again: a continued attempt keeps them
        assert [row.index for row in segments_of(session, job_id, 1)] == [0, 1, 2]

    def claim(**kwargs) -> JobSegment | None:
        with db() as session:
            return claim_segment(
                session, job_id, 1, worker_host="w", lease_s=60, max_tries=2, **kwargs
            )

    first, second = claim(), claim()
    assert (first.index, second.index) == (0, 1)  # the first free one, each once
    assert claim(index=0) is None  # held
    with db() as session:
        assert renew_segment(session, first, frames_done=10, lease_s=60)
        assert frames_done(session, job_id, 1) == (10, 90)
        assert finish_segment(session, first)
        assert frames_done(session, job_id, 1) == (30, 90)  # all of its 30
        assert not finish_segment(session, first)  # done: no longer held
        assert release_segment(session, second)  # given back: queued, its try counted
    again = claim(index=1)
    assert again is not None and again.tries == 2 and again.lease_token != second.lease_token
    with db() as session:  # its worker died: the lease expires
        session.execute(
            update(JobSegment)
            .where(JobSegment.job_id == job_id, JobSegment.index == 1)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert claim(index=1) is None  # but two tries are all it gets
    with db() as session:
        # late, but no one took it over: the same worker may go on
        assert renew_segment(session, again, frames_done=5, lease_s=60)
    third = claim(index=2)
    with db() as session:  # the job is deleted: its segments stop at their next write
        states.mark_deleted(session, job_id)
    with db() as session:
        assert not renew_segment(session, third, frames_done=1, lease_s=60)
        assert not fail_segment(session, third, code="corrupt_video", message="x")
    with db() as session:
        create_segments(session, job_id, 1, rows)
    assert claim() is None


def test_a_long_job_is_split_and_its_coordinator_finishes_alone(
    db, storage, split_settings, long_clip_job, monkeypatch
):
    monkeypatch.setattr(split_jobs, "idle_video_slots", lambda: 0)  # no helper: run whole
    whole = long_clip_job()
    assert jobs.process_job(whole, storage).status == "succeeded"
    monkeypatch.setattr(split_jobs, "idle_video_slots", lambda: 1)  # one, who never comes
    split = long_clip_job()

    assert jobs.process_job(split, storage).status == "succeeded"
    queued = split_settings
    assert queued == [(split, 1, 1), (split, 1, 2), (split, 1, 3)]  # segment 0 is its own
    job = load(db, split)
    assert (job.status, job.progress, job.attempts) == ("succeeded", 100, 1)
    assert job.metrics["segments"] == 4 and job.metrics["total_frames"] == FRAMES
    with db() as session:
        rows = segments_of(session, split, 1)
    assert [row.status for row in rows] == ["done"] * 4
    assert {row.worker_host for row in rows} == {jobs.HOSTNAME}
    assert sum(row.frames for row in rows) == FRAMES
    assert stored(storage, segments_prefix(split)) == []  # forgotten once the job succeeded

    # the same frames at the same times as the run of the same video whole
    whole_frames = keypoints_of(storage, whole)["frames"]
    split_frames = keypoints_of(storage, split)["frames"]
    assert [f["time_s"] for f in split_frames] == [f["time_s"] for f in whole_frames]
    assert [f["frame"] for f in split_frames] == list(range(FRAMES))
    assert load(db, whole).metrics.get("segments") is None


def test_a_helpers_segment_is_taken_from_storage_when_the_attempt_continues(
    db, storage, split_settings, long_clip_job, tmp_path
):
    """A helper (another worker) ran segment 0 and stored it; the coordinator's attempt,
    continued after a wait, reuses it and runs the rest."""
    job_id = long_clip_job()
    with db() as session:
        job = states.claim_job(session, job_id, worker_host="first", lease_s=60)
    source = tmp_path / "input.mp4"
    storage.download_file(job.input_key, source)
    plan = plan_segments(source, segment_s=2.0, min_s=4.0)
    with db() as session:
        create_segments(session, job_id, 1, [asdict(segment) for segment in plan])
    assert split_jobs.process_segment(job_id, 1, 0, storage, worker="helper@elsewhere") == "done"
    assert split_jobs.process_segment(job_id, 1, 0, storage, worker="late") == "skipped"
    assert len(stored(storage, segments_prefix(job_id))) == 3
    with db() as session:
        states.release_for_retry(session, job_id, attempt=1, reason="test", next_retry_at=utcnow())

    outcome = jobs.process_job(job_id, storage, continue_attempt=1)
    assert outcome.status == "succeeded"
    job = load(db, job_id)
    assert (job.attempts, job.metrics["segments"], job.metrics["total_frames"]) == (1, 4, FRAMES)
    with db() as session:
        hosts = [row.worker_host for row in segments_of(session, job_id, 1)]
    assert hosts == ["helper@elsewhere"] + [jobs.HOSTNAME] * 3


@pytest.mark.parametrize(
    ("row", "code"),
    [
        (
            {"status": "failed", "error_code": "corrupt_video", "error_message": "bad"},
            "corrupt_video",
        ),
        ({"tries": 3}, "attempts_exhausted"),
    ],
)
def test_a_segment_that_cannot_be_done_fails_its_job(
    db, storage, split_settings, long_clip_job, row, code
):
    job_id = long_clip_job()
    with db() as session:
        states.claim_job(session, job_id, worker_host="first", lease_s=60)
        create_segments(
            session,
            job_id,
            1,
            [
                {
                    "index": i,
                    "start_pts": 0,
                    "end_pts": None,
                    "first_frame": 0,
                    "frames": 1,
                    "start_s": 0.0,
                    "end_s": None,
                }
                for i in range(2)
            ],
        )
        session.execute(
            update(JobSegment)
            .where(JobSegment.job_id == job_id, JobSegment.index == 1)
            .values(**row)
        )
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=None))
        states.release_for_retry(session, job_id, attempt=1, reason="test", next_retry_at=utcnow())

    outcome = jobs.process_job(job_id, storage, continue_attempt=1)
    assert (outcome.status, outcome.event) == ("failed", "job.failed")
    job = load(db, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", code, 1)


def test_a_short_video_or_several_dancers_run_whole(db, storage, split_settings, submit):  # noqa: F811
    short = submit(frames=30)
    assert jobs.process_job(short, storage).status == "succeeded"
    assert load(db, short).metrics.get("segments") is None
    assert split_settings == []
    with db() as session:
        assert segments_of(session, short, 1) == []


def test_without_idle_helpers_a_long_job_runs_whole(
    db, storage, split_settings, long_clip_job, monkeypatch
):
    monkeypatch.setattr(split_jobs, "idle_video_slots", lambda: 0)
    job_id = long_clip_job()
    assert jobs.process_job(job_id, storage).status == "succeeded"
    assert load(db, job_id).metrics.get("segments") is None
    assert split_settings == []

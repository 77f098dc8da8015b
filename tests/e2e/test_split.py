"""A long video split across two video workers, as operators run them: uvicorn and two Celery
workers as real processes on the real Postgres and Redis and moto's S3 server, over HTTP.

The stack splits from 6 s into segments of about 4 s, so a 16 s clip makes 4 segments. The
tests kill a worker for real (SIGKILL to its process group) and delete a job mid-way."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from shared.models import Job, JobSegment
from tests.clips import make_clip, probe
from tests.stacks import (
    objects_of,
    running_stack,
    service_env,
    submit,
    wait_for_end,
    wait_ready,
    worker_metrics,
)

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(400)]

FPS, FRAMES = 15, 240  # 16 s


@pytest.fixture(scope="module")
def stack(pg_url, redis_url, moto_server, bucket, tmp_path_factory):
    env = service_env(
        pg_url=pg_url,
        redis_url=redis_url,
        moto_server=moto_server,
        bucket=bucket[1],
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        SPLIT_MIN_SECONDS="6",
        SEGMENT_SECONDS="4",
    )
    with running_stack(env, tmp_path_factory.mktemp("logs")) as services:
        start_helper(services, "worker2")
        wait_ready(services, "worker")
        yield services


def start_helper(stack, name: str) -> None:
    stack.start_worker(name)
    wait_ready(stack, name)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "long.mp4"
    return make_clip(path, frames=FRAMES, fps=FPS, keyframe_every=FPS, audio=True)


@pytest.fixture(scope="module")
def rows(pg_url):
    engine = create_engine(pg_url)
    yield lambda: Session(engine)
    engine.dispose()


def segments(rows, job_id: str) -> list[JobSegment]:
    with rows() as session:
        return list(
            session.scalars(
                select(JobSegment)
                .where(JobSegment.job_id == uuid.UUID(job_id))
                .order_by(JobSegment.attempt, JobSegment.index)
            )
        )


def wait_until(condition, timeout_s: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def coordinator_and_helper(rows, job_id: str) -> tuple[str, str]:
    """The process names (`worker`, `worker2`) of the job's coordinator and of the other."""
    with rows() as session:
        node = session.get(Job, uuid.UUID(job_id)).worker_host
    coordinator = node.split("@")[0]
    return coordinator, "worker2" if coordinator == "worker" else "worker"


def segment_counts(stack) -> dict[str, float]:
    """`dance_segments_total` by result, over both workers."""
    counts: dict[str, float] = {}
    for name in ("worker", "worker2"):
        for (metric, labels), value in worker_metrics(stack, name).items():
            if metric == "dance_segments_total":
                result = dict(labels)["result"]
                counts[result] = counts.get(result, 0) + value
    return counts


def test_a_long_video_is_split_across_two_workers_and_stitched(
    api,
    stack,
    long_clip,
    rows,
    webhook_receiver,
    tmp_path,
    bucket,
):
    before = segment_counts(stack)
    answer = submit(api, long_clip, webhook_url=webhook_receiver.url)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]

    status, progress = wait_for_end(api, job_id, timeout_s=180)
    assert status["status"] == "succeeded", status
    assert status["attempts"] == 1
    assert progress == sorted(progress) and any(0 < value < 95 for value in progress)
    metrics = status["metrics"]
    assert (metrics["segments"], metrics["total_frames"]) == (4, FRAMES)
    parts = segments(rows, job_id)
    assert [(part.index, part.status, part.tries) for part in parts] == [
        (i, "done", 1) for i in range(4)
    ]
    assert sum(part.frames for part in parts) == FRAMES
    nodes = {part.worker_host.split("@")[0] for part in parts}
    assert nodes == {"worker", "worker2"}, nodes  # both took part

    # a player sees the unsplit run's frames and times, and the sound
    (tmp_path / "out.mp4").write_bytes(httpx.get(status["result"]["video_url"], timeout=30).content)
    output, source = probe(tmp_path / "out.mp4"), probe(long_clip)
    assert (output["codec"], output["pix_fmt"], output["audio_codec"]) == ("h264", "yuv420p", "aac")
    assert output["frames"] == FRAMES
    assert output["times"] == pytest.approx(source["times"], abs=1e-3)
    keypoints = httpx.get(status["result"]["keypoints_url"], timeout=30).json()
    assert [frame["frame"] for frame in keypoints["frames"]] == list(range(FRAMES))

    # one webhook, from the stitch; the segments' stored outputs are gone
    [hook] = webhook_receiver.wait_for(1, timeout=30)
    assert json.loads(hook.body)["type"] == "job.succeeded"
    time.sleep(2)
    assert len(webhook_receiver.requests) == 1
    assert not [key for key in objects_of(bucket, job_id) if "/segments/" in key]
    after = segment_counts(stack)
    assert after.get("done", 0) - before.get("done", 0) == 4  # by whoever ran them


def test_a_killed_helpers_segment_is_retried_alone(api, stack, long_clip, rows):
    job_id = submit(api, long_clip).json()["job_id"]
    wait_until(lambda: any(p.status == "processing" for p in segments(rows, job_id)), 60)
    coordinator, helper = coordinator_and_helper(rows, job_id)

    def helper_midway() -> JobSegment | None:
        return next(
            (
                part
                for part in segments(rows, job_id)
                if part.status == "processing"
                and part.worker_host.startswith(f"{helper}@")
                and part.frames_done > 0
            ),
            None,
        )

    lost = wait_until(helper_midway, 60, "the helper mid-way through a segment")
    stack.kill(helper)  # SIGKILL to the worker and its pool: no chance to give it back
    try:
        status, _ = wait_for_end(api, job_id, timeout_s=180)
        assert status["status"] == "succeeded", status
        assert status["attempts"] == 1  # the job's attempt is untouched
        assert status["metrics"]["total_frames"] == FRAMES
        retried = next(part for part in segments(rows, job_id) if part.index == lost.index)
        assert retried.tries == 2 and retried.worker_host.startswith(f"{coordinator}@")
    finally:
        start_helper(stack, helper)


def test_delete_stops_every_segment(api, stack, long_clip, rows, bucket, tmp_path):
    job_id = submit(api, long_clip).json()["job_id"]
    wait_until(
        lambda: (
            sum(p.status == "processing" and p.frames_done > 0 for p in segments(rows, job_id)) == 2
        ),
        60,
        "both workers on a segment",
    )
    coordinator, helper = coordinator_and_helper(rows, job_id)
    deleted = api.delete(f"/api/jobs/{job_id}")
    assert (deleted.status_code, deleted.json()["status"]) == (200, "deleted")

    # both workers stop at their next progress write, and nothing of the job stays stored
    wait_until(
        lambda: (
            f"job {job_id}: segment" in stack.log(helper)
            and "stopped: the job was deleted" in stack.log(helper)
        ),
        30,
        "the helper to stop",
    )
    wait_until(
        lambda: f"job {job_id}: cancelled" in stack.log(coordinator), 30, "the coordinator to stop"
    )
    time.sleep(2)  # a late upload would land now
    assert not objects_of(bucket, job_id)

    # and they are free for the next job at once
    short = make_clip(tmp_path / "short.mp4", frames=30, fps=FPS)
    next_id = submit(api, short).json()["job_id"]
    status, _ = wait_for_end(api, next_id, timeout_s=60)
    assert status["status"] == "succeeded"


def test_a_lone_worker_runs_a_long_video_whole(api, stack, long_clip, rows):
    stack.kill("worker2")
    try:
        job_id = submit(api, long_clip).json()["job_id"]
        status, _ = wait_for_end(api, job_id, timeout_s=180)
        assert status["status"] == "succeeded", status
        assert "segments" not in status["metrics"]
        assert segments(rows, job_id) == []
    finally:
        start_helper(stack, "worker2")

"""The service as users run it: uvicorn and a Celery worker as real processes, on the real
Postgres and Redis of the machine and moto's S3 server, driven over real HTTP."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

import httpx
import pytest
from bvh import Bvh
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from cli.local_stack import REPO_ROOT
from shared.models import WebhookDelivery
from tests.clips import make_clip, probe
from tests.stacks import objects_of, submit, wait_for_end, worker_metrics

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "dance.mp4", frames=30, fps=15, audio=True)


@pytest.fixture(scope="module")
def rows(pg_url):
    engine = create_engine(pg_url)
    yield lambda: Session(engine)
    engine.dispose()


def test_a_dance_clip_goes_through_upload_queue_worker_and_back(
    tenant, api, stack, clip, webhook_receiver, rows, tmp_path
):
    answer = submit(api, clip, webhook_url=webhook_receiver.url)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    assert answer.headers["location"].endswith(f"/api/status/{job_id}")
    assert answer.json()["status"] == "queued"

    status, progress = wait_for_end(api, job_id)
    assert status["status"] == "succeeded", status
    assert progress == sorted(progress)  # never goes backwards
    assert status["progress"] == 100
    assert status["started_at"] and status["finished_at"]
    metrics = status["metrics"]
    assert (metrics["total_frames"], metrics["width"], metrics["height"]) == (30, 480, 360)
    assert metrics["detection_rate"] >= 0.9

    video_url = status["result"]["video_url"]
    assert urlparse(video_url).hostname == "localhost"  # signed for the public endpoint
    (tmp_path / "out.mp4").write_bytes(httpx.get(video_url, timeout=30).content)
    output = probe(tmp_path / "out.mp4")
    assert (output["codec"], output["frames"], output["audio_codec"]) == ("h264", 30, "aac")
    keypoints = httpx.get(status["result"]["keypoints_url"], timeout=30).json()
    assert keypoints["frame_count"] == 30

    # the motion files: listed with presigned URLs, and behind the API's own routes
    exports = {item["name"]: item for item in status["result"]["exports"]}
    assert set(exports) == {"motion.bvh", "markers.trc", "world_landmarks.csv"}
    bvh = httpx.get(exports["motion.bvh"]["url"], timeout=30).text
    assert Bvh(bvh).nframes == 30
    redirect = api.get(f"/api/jobs/{job_id}/exports/markers.trc", timeout=10)
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["location"], timeout=30).text.startswith("PathFileType")

    redirect = api.get(f"/api/jobs/{job_id}/video", timeout=10)
    assert redirect.status_code == 302
    assert urlparse(redirect.headers["location"]).hostname == "localhost"

    [hook] = webhook_receiver.wait_for(1, timeout=30)
    event = Webhook(tenant["webhook_secret"]).verify(hook.body, hook.headers)
    assert event["type"] == "job.succeeded"
    assert event["data"]["job_id"] == job_id
    assert event["data"]["metrics"] == metrics
    assert delivery_attempts(rows, job_id, 1) == [(1, 200)]


def test_a_broken_video_fails_with_a_code_and_a_failed_webhook(
    tenant, api, webhook_receiver, tmp_path
):
    fake = tmp_path / "broken.mp4"  # looks like MP4 to the gateway, is not one
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(50_000))
    answer = submit(api, fake, webhook_url=webhook_receiver.url)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]

    status, _ = wait_for_end(api, job_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "corrupt_video"
    assert status["error"]["message"]
    assert "result" not in status or status["result"] is None

    [hook] = webhook_receiver.wait_for(1, timeout=30)
    event = Webhook(tenant["webhook_secret"]).verify(hook.body, hook.headers)
    assert event["type"] == "job.failed"
    assert event["data"]["error"]["code"] == "corrupt_video"
    assert api.get(f"/api/jobs/{job_id}/video").status_code == 409


def test_a_failed_webhook_is_retried_with_the_same_id(tenant, api, clip, webhook_receiver, rows):
    webhook_receiver.respond_with(500, 200)
    job_id = submit(api, clip, webhook_url=webhook_receiver.url).json()["job_id"]
    first, second = webhook_receiver.wait_for(2, timeout=60)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    Webhook(tenant["webhook_secret"]).verify(second.body, second.headers)
    assert delivery_attempts(rows, job_id, 2) == [(1, 500), (2, 200)]


def delivery_attempts(
    rows, subject_id: str, n: int, timeout_s: float = 10, column: str = "job_id"
) -> list[tuple]:
    """(attempt, status code) of the job's (or with `column="comparison_id"`, the
    comparison's) webhook deliveries, once `n` rows are there: the receiver may hold a
    request before its delivery row is committed."""
    deadline = time.monotonic() + timeout_s
    while True:
        with rows() as session:
            attempts = [
                (d.attempt, d.status_code)
                for d in session.scalars(
                    select(WebhookDelivery)
                    .where(getattr(WebhookDelivery, column) == uuid.UUID(subject_id))
                    .order_by(WebhookDelivery.attempt)
                )
            ]
        if len(attempts) >= n or time.monotonic() > deadline:
            return attempts
        time.sleep(0.1)


def test_a_presigned_upload_becomes_a_job(api, stack, clip):
    grant = api.post(
        "/api/uploads", json={"filename": "dance.mp4", "content_type": "video/mp4"}, timeout=10
    )
    assert grant.status_code == 201, grant.text
    grant = grant.json()
    with open(clip, "rb") as fh:
        uploaded = httpx.post(
            grant["url"],
            data=grant["fields"],
            files={"file": ("dance.mp4", fh, "video/mp4")},
            timeout=30,
        )
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    answer = api.post("/api/jobs", json={"upload_id": grant["upload_id"]}, timeout=10)
    assert answer.status_code == 202, answer.text
    status, _ = wait_for_end(api, answer.json()["job_id"])
    assert status["status"] == "succeeded"
    assert status["metrics"]["total_frames"] == 30


def test_the_old_routes_still_work(api, stack, clip, bucket):
    answer = submit(api, clip, route="/api/analyze")
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    status, _ = wait_for_end(api, job_id)
    assert status["status"] == "succeeded"
    download = api.get(f"/api/download/{job_id}", timeout=10)
    assert download.status_code == 302
    assert httpx.get(download.headers["location"], timeout=30).content[4:8] == b"ftyp"
    stored = objects_of(bucket, job_id)
    assert len(stored) == 9  # the input, five outputs and three motion files

    cleanup = api.delete(f"/api/cleanup/{job_id}", timeout=30)
    assert cleanup.status_code == 200
    body = cleanup.json()
    assert body["job_id"] == job_id
    assert sorted(body["deleted_files"]) == sorted(stored)
    assert body["count"] == 9
    assert objects_of(bucket, job_id) == []


def test_delete_removes_the_objects_and_marks_the_job(api, stack, clip, bucket):
    job_id = submit(api, clip).json()["job_id"]
    assert wait_for_end(api, job_id)[0]["status"] == "succeeded"
    assert f"outputs/{job_id}/motion.bvh" in objects_of(bucket, job_id)
    answer = api.delete(f"/api/jobs/{job_id}", timeout=30)
    assert answer.status_code == 200
    assert answer.json()["status"] == "deleted"
    assert objects_of(bucket, job_id) == []
    assert api.get(f"/api/jobs/{job_id}/video").status_code == 410
    assert api.get(f"/api/jobs/{job_id}/exports/motion.bvh").status_code == 410


def test_a_job_survives_its_worker_being_killed(api, stack, tmp_path, rows):
    long_clip = make_clip(tmp_path / "long.mp4", frames=180, fps=30)  # some 3 s of work
    job_id = submit(api, long_clip).json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is mid-way
        status = api.get(f"/api/status/{job_id}").json()
        if status["status"] == "processing" and status["progress"] >= 10:
            break
        time.sleep(0.05)
    assert status["status"] == "processing", status
    stack.kill("worker")  # SIGKILL to the worker and its pool: no chance to clean up
    stack.start_worker("worker2")
    status, _ = wait_for_end(api, job_id, timeout_s=180)
    assert status["status"] == "succeeded", status
    assert status["attempts"] == 2
    assert status["metrics"]["total_frames"] == 180


def json_lines(log: str) -> list[dict]:
    lines = []
    for line in log.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_a_job_is_counted_by_its_worker_and_traced_by_its_request_id(
    api, stack, clip, webhook_receiver
):
    succeeded = ("dance_jobs_finished_total", (("code", ""), ("status", "succeeded")))
    delivered = ("dance_webhook_attempts_total", (("result", "delivered"),))
    durations = ("dance_job_duration_seconds_count", ())
    video = next(  # the video worker running now (another test may have killed the first)
        name
        for name, process in stack.processes.items()
        if name.startswith("worker") and process.poll() is None
    )
    before = worker_metrics(stack, video), worker_metrics(stack, "webhooks")
    request_id = f"trace-{secrets.token_hex(6)}"

    trace = {"X-Request-ID": request_id}
    answer = submit(api, clip, headers=trace, webhook_url=webhook_receiver.url)
    assert answer.headers["x-request-id"] == request_id
    job_id = answer.json()["job_id"]
    assert wait_for_end(api, job_id)[0]["status"] == "succeeded"
    [hook] = webhook_receiver.wait_for(1, timeout=30)

    # the job ran in a pool process; the worker's own server adds its files up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = worker_metrics(stack, video), worker_metrics(stack, "webhooks")
        if after[1].get(delivered, 0) > before[1].get(delivered, 0):
            break
        time.sleep(0.2)
    assert after[0][succeeded] == before[0].get(succeeded, 0) + 1
    assert after[0][durations] == before[0].get(durations, 0) + 1
    assert after[1][delivered] == before[1].get(delivered, 0) + 1
    for old, new in zip(before, after, strict=True):
        assert all(new.get(key, -1) >= value for key, value in old.items() if "_total" in key[0])

    # one id from the client's request to the webhook, and on every line about the job
    assert hook.headers["x-request-id"] == request_id
    access = [line for line in json_lines(stack.log("api")) if line["logger"] == "api.access"]
    assert any(
        line["request_id"] == request_id and line["path"] == "/api/jobs" and line["status"] == 202
        for line in access
    )
    about_job = [line for line in json_lines(stack.log(video)) if job_id in line["message"]]
    assert about_job, stack.log(video)[-3000:]
    assert all(line["job_id"] == job_id for line in about_job)
    assert all(line["request_id"] == request_id for line in about_job)
    assert {line["attempt"] for line in about_job} == {1}
    assert all(line["service"] == "worker" and line["time"] for line in about_job)


def test_the_image_healthcheck_pings_a_workers_own_node(stack):
    """`python -m worker.healthcheck [NODE]`: the worker images' HEALTHCHECK."""
    host = socket.gethostname()

    def healthcheck(node: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "worker.healthcheck", node],
            cwd=REPO_ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    alive = healthcheck(f"webhooks@{host}")
    missing = healthcheck(f"nobody@{host}")

    assert (alive.returncode, alive.stdout.strip()) == (0, f"webhooks@{host}: pong")
    assert missing.returncode == 1 and "no answer" in missing.stderr

"""Outages injected for real, against uvicorn, Celery workers, Postgres, Redis and the S3
server: storage and the database unreachable mid-job, a backlog, messages lost by the broker,
SIGTERM to a worker's process group, a hanging webhook receiver, a gateway killed mid-upload.
Each case says what a user of the service sees: the job succeeds (or fails with a code), no
attempt is spent on an outage, no message is duplicated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime

import pytest
import redis

from cli.local_stack import REPO_ROOT
from tests.clips import make_clip
from tests.fixtures_http import Reply, WebhookReceiver
from tests.stacks import wait_ready

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(900)]

MiB = 1024 * 1024
DATABASE_OUTAGE_S = 15  # half the lease: the job must keep it (FAULT_SETTINGS)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """About 3 s of work on this machine: long enough to be caught mid-job (progress is
    written every 0.2 s)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "long.mp4", frames=180, fps=30)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "short.mp4", frames=10, fps=15)


def progress_never_falls(seen: list[dict]) -> bool:
    values = [s["progress"] for s in seen if s["status"] in ("processing", "retrying")]
    return values == sorted(values)


# 15 s: a short outage, within the lease; 60 s: twice the lease, 12 times the reconciler's
# patience and some 30 retries at the capped delay (FAULT_SETTINGS)
@pytest.mark.parametrize("outage_s", [15, 60])
def test_a_storage_outage_mid_job_costs_no_attempt_and_no_rework(fault_stack, long_clip, outage_s):
    started = time.monotonic()
    job_id = fault_stack.submit(long_clip)
    fault_stack.wait_progress(job_id, 20)
    fault_stack.s3.refuse()
    down_at = time.monotonic()
    seen: list[dict] = []
    try:
        waiting = fault_stack.wait(job_id, until=("retrying",), timeout_s=outage_s, seen=seen)
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        still = fault_stack.status(job_id)
    finally:
        fault_stack.s3.restore()
    up_at = time.monotonic()
    final = fault_stack.wait(job_id, seen=seen)

    assert waiting["retry"]["reason"].startswith("storage unavailable")
    assert datetime.fromisoformat(waiting["retry"]["next_try_at"].replace("Z", "+00:00"))
    assert still["status"] in ("retrying", "processing")  # still waiting at the outage's end
    assert final["status"] == "succeeded", final
    assert final["attempts"] == 1
    assert progress_never_falls(seen)
    assert time.monotonic() - up_at < 30  # picked up again within the retry cap
    log = fault_stack.worker_log()
    assert f"job {job_id}: reused from an earlier try: input and outputs" in log
    print(
        f"storage down {outage_s} s: succeeded {time.monotonic() - up_at:.1f} s after it "
        f"came back, {time.monotonic() - started:.0f} s in all, attempts 1"
    )


def test_an_outage_longer_than_the_window_fails_the_job_without_using_attempts(
    fault_stack, short_clip
):
    fault_stack.services.kill("worker")
    fault_stack.services.start_worker("worker", DEPENDENCY_RETRY_WINDOW_S="8")
    fault_stack.s3.refuse()
    try:
        job_id = fault_stack.submit(short_clip)  # the API stores it; the worker cannot fetch it
        final = fault_stack.wait(job_id, timeout_s=90)
    finally:
        fault_stack.s3.restore()
        fault_stack.services.kill("worker")
        fault_stack.services.start_worker("worker")

    assert final["status"] == "failed"
    assert final["error"]["code"] == "dependency_unavailable"
    assert final["attempts"] == 1


def test_a_database_outage_mid_job_is_ridden_out(fault_stack, long_clip):
    job_id = fault_stack.submit(long_clip)
    fault_stack.wait_progress(job_id, 20)
    fault_stack.postgres.refuse()
    try:
        time.sleep(DATABASE_OUTAGE_S)
    finally:
        fault_stack.postgres.restore()
    up_at = time.monotonic()
    final = fault_stack.wait(job_id, timeout_s=180)

    assert final["status"] == "succeeded", final
    assert final["attempts"] == 1
    print(
        f"database down {DATABASE_OUTAGE_S} s: succeeded "
        f"{time.monotonic() - up_at:.1f} s after it came back"
    )


def queue_depth(fault_stack) -> int:
    client = redis.Redis.from_url(fault_stack.env["REDIS_URL"])
    try:
        return client.llen(fault_stack.env["CELERY_QUEUE"])
    finally:
        client.close()


def test_a_backlog_keeps_one_message_per_job_and_each_job_runs_once(fault_stack, short_clip):
    fault_stack.services.kill("worker")  # the webhooks worker still runs the reconciler
    job_ids = [fault_stack.submit(short_clip) for _ in range(30)]
    patience_s = float(fault_stack.env["RECONCILE_QUEUED_AFTER_S"])
    watched_s = 2.5 * patience_s
    deadline, depths = time.monotonic() + watched_s, []
    while time.monotonic() < deadline:
        depths.append(queue_depth(fault_stack))
        time.sleep(0.5)
    fault_stack.services.start_worker("worker")
    finals = [fault_stack.wait(job_id, timeout_s=300) for job_id in job_ids]

    assert max(depths) == 30 and min(depths) == 30  # one message per queued job, no more
    print(
        f"backlog: queue depth {min(depths)}..{max(depths)} over {watched_s:g} s for 30 queued jobs"
    )
    assert [f["status"] for f in finals] == ["succeeded"] * 30
    assert {f["attempts"] for f in finals} == {1}
    log = fault_stack.worker_log()
    assert all(log.count(f"job {job_id}: attempt 1 on") == 1 for job_id in job_ids)
    assert queue_depth(fault_stack) == 0


def test_messages_the_broker_lost_are_sent_again_once(fault_stack, short_clip):
    fault_stack.services.kill("worker")
    job_ids = [fault_stack.submit(short_clip) for _ in range(5)]
    client = redis.Redis.from_url(fault_stack.env["REDIS_URL"])
    client.delete(fault_stack.env["CELERY_QUEUE"])  # as a Redis restart without persistence
    lost_at = time.monotonic()
    deadline = lost_at + 40
    while queue_depth(fault_stack) < 5 and time.monotonic() < deadline:
        time.sleep(0.5)
    resent_s = time.monotonic() - lost_at
    time.sleep(3)  # a few more reconciler rounds: nothing more is sent
    depth = queue_depth(fault_stack)
    client.close()
    fault_stack.services.start_worker("worker")
    finals = [fault_stack.wait(job_id, timeout_s=120) for job_id in job_ids]

    assert depth == 5
    assert [(f["status"], f["attempts"]) for f in finals] == [("succeeded", 1)] * 5
    print(f"queue deleted: 5 messages sent again within {resent_s:.1f} s, no more")


def test_sigterm_to_the_process_group_lets_the_running_job_finish(fault_stack, long_clip):
    job_id = fault_stack.submit(long_clip)
    fault_stack.wait_progress(job_id, 10)
    worker = fault_stack.services.processes["worker"]

    stopped_at = time.monotonic()
    os.killpg(worker.pid, signal.SIGTERM)  # as systemd and shell entrypoints do
    worker.wait(timeout=90)
    print(
        f"SIGTERM to the group: the job finished, the worker exited "
        f"{time.monotonic() - stopped_at:.1f} s later"
    )
    final = fault_stack.status(job_id)
    fault_stack.services.start_worker("worker")

    assert final["status"] == "succeeded", final
    assert final["attempts"] == 1
    assert worker.returncode == 0


def test_past_the_grace_period_the_job_is_handed_back_at_once(fault_stack, tmp_path):
    """Two workers with a 2 s grace, both ready before the job: the one that takes it is
    stopped, and the other must continue the same attempt at once, not after the lease."""
    longer = make_clip(tmp_path / "longer.mp4", width=640, height=480, frames=300, fps=30)
    services = fault_stack.services
    services.kill("worker")
    services.start_worker("worker", JOB_SHUTDOWN_GRACE_S="2")
    services.start_worker("other", JOB_SHUTDOWN_GRACE_S="2")
    wait_ready(services, "worker")
    wait_ready(services, "other")
    job_id = fault_stack.submit(longer)
    fault_stack.wait_progress(job_id, 5)
    holder = fault_stack.row(job_id).worker_host.split("@")[0]
    taker = "other" if holder == "worker" else "worker"

    stopped_at = time.monotonic()
    os.killpg(services.processes[holder].pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if fault_stack.row(job_id).worker_host.startswith(f"{taker}@"):
            break
        time.sleep(0.2)
    taken_over_s = time.monotonic() - stopped_at
    final = fault_stack.wait(job_id, timeout_s=120)
    services.processes[holder].wait(timeout=30)
    services.kill("other", signal.SIGTERM)
    services.kill("worker", signal.SIGTERM)
    services.start_worker("worker")  # the stack's own worker again, at the stack's grace

    assert taken_over_s < 15, f"taken over after {taken_over_s:.0f} s"  # not after the lease
    assert final["status"] == "succeeded"
    assert final["attempts"] == 1
    assert fault_stack.row(job_id).worker_host.startswith(f"{taker}@")
    print(f"handed back and continued elsewhere {taken_over_s:.1f} s after SIGTERM")


def test_a_hanging_webhook_receiver_does_not_hold_the_next_video_job(fault_stack, short_clip):
    receiver = WebhookReceiver()
    receiver.default = Reply(200, delay_s=30)  # answers after 30 s
    receiver.start()
    try:
        first = fault_stack.submit(short_clip, webhook_url=receiver.url)
        done = fault_stack.wait(first)
        second = fault_stack.submit(short_clip)
        started = fault_stack.wait(second, until=("processing", "succeeded", "failed"))
        receiver.wait_for(1, timeout=30)
    finally:
        receiver.close()

    gap = datetime.fromisoformat(
        started["started_at"].replace("Z", "+00:00")
    ) - datetime.fromisoformat(done["finished_at"].replace("Z", "+00:00"))
    assert gap.total_seconds() < 2, f"the next job started {gap.total_seconds():.1f} s later"
    print(f"hanging receiver: the next job started {gap.total_seconds():.2f} s after the last")


def test_an_upload_cut_by_a_killed_gateway_leaves_no_multipart_upload_after_cleanup(fault_stack):
    services = fault_stack.services
    head = (
        b'--cut\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n"
    )
    token = fault_stack.api.headers["authorization"]
    body = head + b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(9 * MiB)
    with socket.create_connection(("127.0.0.1", services.api_port)) as conn:
        conn.sendall(
            (
                f"POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
                "Content-Type: multipart/form-data; boundary=cut\r\n"
                f"Content-Length: {len(body) + 1000}\r\n\r\n"
            ).encode()
            + body
        )
        deadline = time.monotonic() + 30
        while not uploads(fault_stack) and time.monotonic() < deadline:
            time.sleep(0.2)  # the first 8 MiB part reached storage
        assert uploads(fault_stack), "no multipart upload was started"
        services.kill("api")  # SIGKILL: no chance to abort it
    assert uploads(fault_stack)
    time.sleep(3)  # STALE_MULTIPART_UPLOAD_S=2

    cleanup = subprocess.run(
        [sys.executable, "-m", "shared.bootstrap"],
        cwd=REPO_ROOT,
        env=services.api_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    services.start_api()
    services.wait_api(60)

    assert cleanup.returncode == 0, cleanup.stderr
    assert "abandoned multipart uploads aborted now: 1" in cleanup.stdout
    assert uploads(fault_stack) == []


def uploads(fault_stack) -> list:
    return fault_stack.s3_client.list_multipart_uploads(Bucket=fault_stack.bucket).get(
        "Uploads", []
    )

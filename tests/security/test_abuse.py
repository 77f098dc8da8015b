"""What a hostile client sends, against the real processes: webhook URLs that lead inside,
receivers that stall, uploads swapped or left hanging, deep JSON, files that would cost the
worker dearly, and old files that must go."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from bench.hostile_clips import black_clip, giant_frame_clip
from cli.local_stack import tenant_command
from shared.models import Job, WebhookDelivery, utcnow
from tests.clips import make_clip
from tests.fixtures_http import drip
from tests.security.conftest import RECEIVERS, submit, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]

MiB = 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return Path(make_clip(tmp_path_factory.mktemp("clips") / "dance.mp4", frames=20, fps=15))


@pytest.fixture(scope="module")
def rows(pg_url):
    engine = create_engine(pg_url)
    yield lambda: Session(engine)
    engine.dispose()


def deliveries(rows, job_id: str, n: int = 1, timeout_s: float = 30) -> list[WebhookDelivery]:
    """The job's webhook delivery rows, once at least `n` exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with rows() as session:
            found = list(
                session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.job_id == uuid.UUID(job_id))
                    .order_by(WebhookDelivery.attempt)
                )
            )
        if len(found) >= n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} webhook attempts for job {job_id}")


# --- webhook URLs that lead inside ----------------------------------------------------------

LEADING_INSIDE = [
    "http://127.0.0.1:6379/",
    "http://localhost/hook",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/",
    "http://metadata/",
    "http://10.1.2.3/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[fc00::5]:8080/",
]


@pytest.mark.parametrize("url", LEADING_INSIDE)
def test_a_webhook_url_leading_inside_is_refused_at_submission(tenant, bucket, url):
    before = bucket.keys("inputs/")
    answer = tenant.api.post(
        "/api/jobs", data={"webhook_url": url}, files={"video": ("a.mp4", MP4_HEAD + bytes(4000))}
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "webhook_url_not_allowed"
    assert bucket.keys("inputs/") == before  # the stored upload was removed again


@pytest.mark.parametrize(
    "url",
    [
        "http://user:secret@93.184.215.14/",
        "ftp://93.184.215.14/",
        "http://93.184.215.14/" + "a" * 2048,
    ],
)
def test_a_malformed_webhook_url_is_refused(tenant, url):
    answer = tenant.api.post(
        "/api/jobs", data={"webhook_url": url}, files={"video": ("a.mp4", MP4_HEAD + bytes(4000))}
    )

    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_webhook_url"
    assert "secret" not in answer.text


def test_the_worker_checks_the_webhook_url_again_before_calling_it(tenant, clip, rows, raw_server):
    # 127.0.0.2 is exempt in the API's settings but not in the worker's: as if the name had
    # been re-pointed at an internal address between submission and delivery.
    inside = raw_server(drip(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 0), host="127.0.0.2")
    answer = submit(tenant.api, clip, webhook_url=f"http://127.0.0.2:{inside.port}/hook")
    assert answer.status_code == 202, answer.text

    [attempt] = deliveries(rows, answer.json()["job_id"])

    assert attempt.status_code is None
    assert attempt.error.startswith("not sent: ") and "127.0.0.2 (loopback)" in attempt.error
    time.sleep(1)
    assert inside.requests == []
    assert len(deliveries(rows, answer.json()["job_id"])) == 1  # given up: not retried


def test_a_dripping_receiver_holds_the_worker_no_longer_than_the_timeout(
    tenant, clip, rows, raw_server
):
    slow = raw_server(drip(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", 0.5), host=RECEIVERS)
    answer = submit(tenant.api, clip, webhook_url=f"http://{RECEIVERS}:{slow.port}/hook")

    [attempt] = deliveries(rows, answer.json()["job_id"])

    assert 1900 <= attempt.latency_ms <= 3500  # WEBHOOK_TIMEOUT_S=2 covers the whole answer
    assert attempt.status_code is None and "timeout" in attempt.error
    assert len(slow.requests) == 1


def test_webhooks_carry_the_old_and_the_new_signature_during_a_rotation(
    stack, tenant, clip, receiver
):
    rotated = tenant_command(stack.env, "rotate-webhook-secret", tenant.name)
    assert rotated["webhook_secret"] != tenant.webhook_secret
    assert rotated["previous_secret_signs_until"]

    submit(tenant.api, clip, webhook_url=receiver.url)
    [hook] = receiver.wait_for(1, timeout=60)

    signatures = hook.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    for secret in (rotated["webhook_secret"], tenant.webhook_secret):
        assert Webhook(secret).verify(hook.body, hook.headers)["type"] == "job.succeeded"


# --- uploads --------------------------------------------------------------------------------


def test_a_swapped_presigned_upload_changes_nothing(tenant, bucket, tmp_path):
    first = Path(make_clip(tmp_path / "first.mp4", frames=20, fps=15))
    swap = Path(make_clip(tmp_path / "swap.mp4", frames=45, fps=15, person="camera"))
    t = tenant.api.post("/api/uploads", json={"filename": "dance.mp4"}).json()
    form = {"data": t["fields"]}
    assert httpx.post(
        t["url"], files={"file": ("dance.mp4", first.read_bytes())}, **form
    ).status_code in (200, 204)
    created = tenant.api.post("/api/jobs", json={"upload_id": t["upload_id"]})
    assert created.status_code == 202, created.text

    swapped = httpx.post(t["url"], files={"file": ("dance.mp4", swap.read_bytes())}, **form)
    status = wait_for_end(tenant.api, t["upload_id"])

    assert swapped.status_code in (200, 204)  # storage took the second file ...
    assert status["status"] == "succeeded"
    assert status["metrics"]["total_frames"] == 20  # ... but the job processed the first
    [own] = bucket.keys(f"inputs/{t['upload_id']}/")
    assert bucket.client.get_object(Bucket=bucket.name, Key=own)["Body"].read() == (
        first.read_bytes()
    )
    again = tenant.api.post("/api/jobs", json={"upload_id": t["upload_id"]})
    assert again.status_code == 409  # and the swapped file cannot become a job either


def _stalled_upload(stack, api_key: str, sent: bytes, declared: int) -> socket.socket:
    """A multipart upload that sends `sent` of its body, then nothing more."""
    boundary = "stall"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; '
        f'filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    ).encode()
    conn = socket.create_connection(("127.0.0.1", stack.api_port), timeout=30)
    conn.sendall(
        (
            f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {api_key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + head
        + sent
    )
    return conn


def _answer_of(conn: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
    while len(body) < int(headers.get("content-length", 0)):
        body += conn.recv(65536)
    return int(line.split()[1]), headers, body


def test_a_stalled_upload_is_answered_408_and_its_storage_upload_aborted(stack, tenant, bucket):
    video = MP4_HEAD + os.urandom(9 * MiB)  # more than one 8 MiB part: S3 holds a part
    conn = _stalled_upload(stack, tenant.api_key, video, declared=len(video) + 10_000)
    started = time.monotonic()
    with conn:
        status, headers, body = _answer_of(conn)
    waited = time.monotonic() - started

    assert status == 408
    assert json.loads(body)["code"] == "upload_timeout"
    assert headers["connection"] == "close"
    assert waited < 10  # UPLOAD_IDLE_TIMEOUT_S=2, after the 9 MiB went through
    deadline = time.monotonic() + 5
    while bucket.unfinished_uploads() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bucket.unfinished_uploads() == []


def test_uploads_beyond_the_concurrency_cap_get_503_until_a_slot_frees(stack, make_tenant, clip):
    stallers = [make_tenant("stall") for _ in range(2)]  # MAX_CONCURRENT_UPLOADS=2
    third = make_tenant("third")
    conns = [_stalled_upload(stack, t.api_key, MP4_HEAD, declared=100_000) for t in stallers]
    time.sleep(0.5)  # both are being read
    try:
        refused = submit(third.api, clip)
    finally:
        answers = []
        for conn in conns:
            with conn:
                answers.append(_answer_of(conn)[0])
    accepted = submit(third.api, clip)

    assert refused.status_code == 503
    assert refused.json()["code"] == "too_many_uploads"
    assert refused.headers["retry-after"]
    assert answers == [408, 408]
    assert accepted.status_code == 202


def test_deeply_nested_json_is_422_never_500(tenant):
    deep = "[" * 1000 + "]" * 1000
    answers = {
        "options field": tenant.api.post(
            "/api/jobs", data={"options": deep}, files={"video": ("a.mp4", MP4_HEAD + bytes(4000))}
        ),
        "job body": tenant.api.post(
            "/api/jobs",
            content=f'{{"options": {deep}}}',
            headers={"content-type": "application/json"},
        ),
        "upload body": tenant.api.post(
            "/api/uploads", content=deep, headers={"content-type": "application/json"}
        ),
    }
    for where, answer in answers.items():
        assert answer.status_code == 422, (where, answer.text)
        assert "nests deeper" in answer.json()["message"], where


# --- cost caps ------------------------------------------------------------------------------


def _pool_child(stack, name: str) -> int:
    """The pid of the Celery worker's (single) pool process, once the worker is ready."""
    main = stack.processes[name].pid
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
        if " ready." in stack.log(name) and len(children) == 1:
            return int(children[0])
        time.sleep(0.2)
    raise AssertionError(f"the worker is not ready with one pool process: {stack.log(name)}")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_costly_files_are_refused_in_seconds_with_little_memory(stack, tenant, tmp_path):
    fast = black_clip(tmp_path / "fast.mp4", fps=240, frames=240 * 60)  # 64x64, 60 s
    giant = giant_frame_clip(tmp_path / "giant.mp4")  # one 16000x16000 frame
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(MP4_HEAD + os.urandom(20_000))
    # A fresh worker, warmed up by one job that fails before the model loads (storage and
    # database clients made, the input downloaded and opened): its peak memory is the baseline.
    stack.kill("worker")
    stack.start_worker("fresh-worker")
    child = _pool_child(stack, "fresh-worker")
    warm_up = submit(tenant.api, broken).json()["job_id"]
    assert wait_for_end(tenant.api, warm_up)["error"]["code"] == "corrupt_video"
    baseline = _peak_rss_mib(child)

    results = {}
    for path, code in ((fast, "frame_rate_too_high"), (giant, "dimensions_out_of_range")):
        started = time.monotonic()
        job_id = submit(tenant.api, path).json()["job_id"]
        status = wait_for_end(tenant.api, job_id, timeout_s=60)
        results[code] = (status, time.monotonic() - started)
    growth = _peak_rss_mib(child) - baseline

    for code, (status, seconds) in results.items():
        assert status["status"] == "failed" and status["error"]["code"] == code
        assert seconds < 15, f"{code} took {seconds:.1f} s"
    assert _pool_child(stack, "fresh-worker") == child  # the same process did both
    assert growth < 100, f"the worker's peak memory grew by {growth:.0f} MiB"


# --- retention ------------------------------------------------------------------------------


def test_a_job_older_than_the_retention_expires_and_loses_its_files(tenant, clip, pg_url, bucket):
    job_id = submit(tenant.api, clip).json()["job_id"]
    assert wait_for_end(tenant.api, job_id)["status"] == "succeeded"
    assert len(bucket.keys(f"outputs/{job_id}/")) == 8  # five outputs, three motion files
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # as if it had finished 31 days ago (RETENTION_DAYS=30)
        conn.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job_id))
            .values(finished_at=utcnow() - timedelta(days=31))
        )
    engine.dispose()

    status = wait_for_end(tenant.api, job_id, timeout_s=30, until=("expired",))

    assert status["result"] is None
    assert bucket.keys(f"inputs/{job_id}/") == bucket.keys(f"outputs/{job_id}/") == []
    video = tenant.api.get(f"/api/jobs/{job_id}/video")
    assert video.status_code == 410 and video.json()["code"] == "job_expired"
    listed = [item["job_id"] for item in tenant.api.get("/api/jobs").json()["items"]]
    assert job_id in listed  # the row stays

"""The client's parts that need no service: webhook checks against the service's own signer,
the retry policy, the event-stream reader, upload bodies, and a download resumed after a real
server dropped the connection mid-body."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dance_client import (
    ComparisonStatus,
    JobStatus,
    RetryPolicy,
    WebhookVerificationError,
    event_data,
    verify_webhook,
)
from dance_client.cli import handles
from dance_client.compare_command import bare_mirror_as_on
from dance_client.comparison_text import comparison_lines
from dance_client.downloads import fetch_to_file
from dance_client.errors import DownloadError
from dance_client.events import read_events
from dance_client.uploads import Upload
from shared.webhooks.events import sign_headers
from tests.fixtures_s3 import TEST_WEBHOOK_SECRET
from tests.webhook_samples import STATUS

OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LWZvci13ZWJob29rLXRlc3Rz"
BODY = json.dumps({"type": "job.succeeded", "data": {"job_id": "j1"}}).encode()


def signed(secrets_: list[str], *, at: datetime | None = None) -> dict[str, str]:
    return sign_headers(secrets_, "msg_1", BODY, at or datetime.now(UTC))


def test_a_webhook_signed_by_the_service_verifies():
    assert verify_webhook(BODY, signed([TEST_WEBHOOK_SECRET]), TEST_WEBHOOK_SECRET) == json.loads(
        BODY
    )
    assert verify_webhook(BODY.decode(), signed([TEST_WEBHOOK_SECRET]), TEST_WEBHOOK_SECRET)


def test_during_a_rotation_either_secret_verifies():
    headers = signed([OTHER_SECRET, TEST_WEBHOOK_SECRET])
    assert verify_webhook(BODY, headers, TEST_WEBHOOK_SECRET)
    assert verify_webhook(BODY, headers, OTHER_SECRET)


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "old", "future", "missing_header", "id", "bad_secret", "not_json"],
)
def test_a_webhook_that_does_not_check_out_is_refused(tamper):
    body, secret = BODY, TEST_WEBHOOK_SECRET
    headers = signed([TEST_WEBHOOK_SECRET])
    if tamper == "body":
        body = BODY.replace(b"j1", b"j2")
    elif tamper == "secret":
        secret = OTHER_SECRET
    elif tamper == "old":
        headers = signed([secret], at=datetime.now(UTC) - timedelta(minutes=10))
    elif tamper == "future":
        headers = signed([secret], at=datetime.now(UTC) + timedelta(minutes=10))
    elif tamper == "missing_header":
        del headers["webhook-signature"]
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "bad_secret":
        secret = "whsec_not base64!"
    elif tamper == "not_json":
        body = b"not json"
        headers = sign_headers([secret], "msg_1", body, datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret)


def test_backoff_doubles_within_its_cap_with_jitter():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4)
    for attempt, ceiling in enumerate([0.5, 1, 2, 4, 4, 4]):
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_the_event_reader_follows_the_format():
    lines = [
        ": ping",
        "event: status",
        "id: 17",
        "retry: 2000",
        'data: {"a":',
        "data: 1}",
        "",
        "data: plain",
        "",
        "",
    ]

    async def collect():
        async def source():
            for line in lines:
                yield line

        return [event async for event in read_events(source())]

    first, second = asyncio.run(collect())
    assert (first.event, first.id, first.data) == ("status", "17", '{"a":\n1}')
    assert (second.event, second.id, second.data) == ("message", "17", "plain")


def test_uploads_are_measured_and_sent_again_from_their_start():
    stream = io.BytesIO(b"xx" + b"v" * 100)
    stream.seek(2)  # a file object handed over mid-way: from where it stands
    upload = Upload(stream, "clip.mov")
    assert (upload.size, upload.name, upload.content_type) == (100, "clip.mov", "video/quicktime")
    sent: list[int] = []

    def counted(done: int, total: int | None) -> None:
        sent.append(done)

    for _ in range(2):  # a request sent twice reads the same bytes twice
        request = httpx.Request(
            "POST", "http://x/", files={"video": ("clip.mov", upload.reader(counted))}
        )
        body = request.read()
        assert body.count(b"v" * 100) == 1 and int(request.headers["content-length"]) == len(body)
    assert sent[-1] == 100 and sent.count(100) == 2
    assert upload.rewindable and Upload(b"abc").size == 3


def test_a_text_stream_or_an_unknown_type_is_refused():
    with pytest.raises(TypeError):
        Upload(io.StringIO("text"))
    with pytest.raises(TypeError):
        Upload(42)  # type: ignore[arg-type]


def test_a_download_cut_mid_body_resumes_where_it_stopped(raw_server, tmp_path):
    """The first answer is cut after 1000 of its bytes (the server drops the connection);
    the client asks for the rest with a Range request and ends with the whole object."""
    blob = secrets.token_bytes(5000)

    def respond(conn: socket.socket, stop) -> None:
        request = server.requests[-1]
        start = int(request.headers.get("range", "bytes=0-")[6:].rstrip("-"))
        if start == 0:
            head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(blob)}\r\n\r\n".encode()
            conn.sendall(head + blob[:1000])
            return  # the connection closes mid-body
        rest = blob[start:]
        head = (
            f"HTTP/1.1 206 Partial Content\r\ncontent-length: {len(rest)}\r\n"
            f"content-range: bytes {start}-{len(blob) - 1}/{len(blob)}\r\n\r\n"
        )
        conn.sendall(head.encode() + rest)

    server = raw_server(respond)
    target, part = tmp_path / "out.bin", tmp_path / ".out.bin.part"

    async def fetch():
        async with httpx.AsyncClient() as http:
            return await fetch_to_file(
                http,
                f"http://127.0.0.1:{server.port}/o",
                target,
                part=part,
                policy=RetryPolicy(base_delay_s=0.01),
                fresh_url=_no_fresh_url,
            )

    assert asyncio.run(fetch()).read_bytes() == blob
    assert [r.headers.get("range") for r in server.requests] == [None, "bytes=1000-"]
    assert not part.exists()


def test_a_download_of_the_wrong_size_is_an_error(raw_server, tmp_path):
    def respond(conn: socket.socket, stop) -> None:  # claims 10 bytes of a 20-byte object
        conn.sendall(
            b"HTTP/1.1 206 Partial Content\r\ncontent-length: 10\r\n"
            b"content-range: bytes 5-14/20\r\n\r\n" + b"x" * 10
        )

    server = raw_server(respond)
    part = tmp_path / ".o.part"
    part.write_bytes(b"y" * 5)

    async def fetch():
        async with httpx.AsyncClient() as http:
            await fetch_to_file(
                http,
                f"http://127.0.0.1:{server.port}/o",
                tmp_path / "o",
                part=part,
                policy=RetryPolicy(attempts=1),
                fresh_url=_no_fresh_url,
            )

    with pytest.raises(DownloadError, match="15 bytes written, storage said 20"):
        asyncio.run(fetch())
    assert not (tmp_path / "o").exists()


async def _no_fresh_url() -> str:
    raise AssertionError("no URL expires here")


def test_a_comparison_event_reads_into_its_model():
    data = {
        "comparison_id": "c1",
        "status": "succeeded",
        "reference_job_id": "j1",
        "attempt_job_id": "j2",
        "mirror": "auto",
        "video": True,
        "created_at": "2026-12-10T10:00:00Z",
        "summary": {"score": 88.0},
        "result": {"report_url": "r", "video_url": None, "expires_at": "2026-12-10T11:00:00Z"},
        "a_field_from_a_newer_server": 1,
    }
    body = json.dumps({"type": "comparison.succeeded", "data": data}).encode()
    headers = sign_headers([TEST_WEBHOOK_SECRET], "msg_2", body, datetime.now(UTC))

    event = verify_webhook(body, headers, TEST_WEBHOOK_SECRET)
    comparison = event_data(event)
    job = event_data(
        {"type": "job.failed", "data": {**STATUS, "progress": 40, "created_at": "2026-12-10"}}
    )

    assert isinstance(comparison, ComparisonStatus) and comparison.comparison_id == "c1"
    assert comparison.mirror == "auto" and comparison.result is not None
    assert comparison.result.video_url is None and comparison.summary == {"score": 88.0}
    assert isinstance(job, JobStatus) and job.job_id == STATUS["job_id"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compare", "REF", "ATT", "--mirror"], ["compare", "REF", "ATT", "--mirror=on"]),
        (["compare", "--mirror", "REF", "ATT"], ["compare", "--mirror=on", "REF", "ATT"]),
        (["compare", "--mirror", "off", "REF"], ["compare", "--mirror", "off", "REF"]),
        (["submit", "--mirror", "x"], ["submit", "--mirror", "x"]),
    ],
    ids=str,
)
def test_a_bare_mirror_means_on_wherever_it_stands(argv, expected):
    assert bare_mirror_as_on(argv) == expected


def test_compare_is_remote_unless_an_argument_is_a_path(tmp_path):
    ref, att = tmp_path / "ref", tmp_path / "att"
    ref.mkdir()
    att.mkdir()
    local = ["compare", str(ref), str(att)]
    assert not handles(local + ["--out", "x"])
    assert not handles(["compare", "--out", "x", "--mirror", "on", str(ref), str(att)])
    assert not handles(["compare", "--mirror", str(ref), str(att), "--no-video"])
    assert handles(["compare", "JOB1", "JOB2", "--webhook-url", str(ref)])
    assert handles(["compare", "--out", str(ref), "JOB1", "JOB2"])
    assert handles(["status", "JOB1"]) and not handles(["analyze", "x.mp4"])
    # a folder that is not there is still a folder: the local compare says it is missing
    assert not handles(["compare", str(ref), str(tmp_path / "missing")])
    assert not handles(["compare", "teacher/", "student/"])


def test_the_summary_for_people_has_scores_timing_judgements_feedback_and_files():
    summary = {
        "score": 84.25,
        "scores": {"pose": 88.5, "timing": None, "amplitude": 81.3},
        "coverage": 0.974,
        "mirror": True,
        "timing": {"basis": "music", "mean_offset_s": -0.001, "verdict": "on time"},
        "judgements": {"unit": "beat", "counts": {"perfect": 9, "good": 5, "miss": 1}},
        "warnings": [{"code": "low_coverage", "message": "only 40% was compared"}],
        "feedback": [{"text": "4.0-5.0 s: right knee 31° more bent than the reference"}],
    }

    assert comparison_lines(summary, ["out/comparison.json"]) == [
        "score 84.2 / 100 (pose 88.5, timing n/a, amplitude 81.3)",
        "coverage 97%",
        "the attempt was mirrored (left and right swapped)",
        "timing: on time (music, mean offset +0.00 s)",
        "judgements per beat: perfect 9, good 5, ok 0, miss 1, not judged 0",
        "warning: only 40% was compared",
        "feedback:",
        "  4.0-5.0 s: right knee 31° more bent than the reference",
        "files:",
        "  out/comparison.json",
    ]
    assert comparison_lines({"similarity": 90.7, "segments": []}) == ["score 90.7 / 100"]

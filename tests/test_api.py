"""The HTTP API, in-process, against the real Postgres, Redis and a moto S3 server.

Each test gets a fresh database (`db`), its own bucket (`storage`) and its own Redis queue
(`broker`); enqueued Celery messages are read back from Redis.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import redis
from sqlalchemy import select
from starlette.requests import ClientDisconnect

from api.deps import get_settings
from api.errors import APIError
from api.main import create_app
from api.routes import jobs as api_jobs
from api.upload import VideoFormReader
from shared import db as shared_db
from shared import queue as shared_queue
from shared.config import Settings, settings
from shared.models import Job, WebhookDelivery, utcnow
from shared.queue import PROCESS_JOB
from shared.queue import enqueue_job as real_enqueue_job
from shared.states import JobStatus
from shared.storage import MiB, Storage, get_storage, input_key, output_keys
from tests.fixtures_s3 import s3_test_settings

pytestmark = [pytest.mark.anyio, pytest.mark.services]

TEST_REDIS_DB = 11
MP4_HEAD = struct.pack(">I", 24) + b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fake_video(size: int) -> bytes:
    """Bytes that open like an MP4 (an `ftyp` box), padded with noise to `size`."""
    return MP4_HEAD + os.urandom(size - len(MP4_HEAD))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- services -------------------------------------------------------------------------------


@dataclass
class Broker:
    """A Redis queue of our own; `messages()` decodes the Celery messages waiting in it."""

    client: redis.Redis
    url: str
    queue: str

    def messages(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.client.lrange(self.queue, 0, -1):
            message = json.loads(raw)
            assert message["properties"]["body_encoding"] == "base64"
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append({"task": message["headers"]["task"], "args": args, "kwargs": kwargs})
        return found


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    """The process settings pointed at a fresh queue on a test Redis database."""
    url = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url} ({exc})"
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(f"{message}; start it or set CI=true to make this an error")
    queue = f"test-api-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(settings, "REDIS_URL", url)
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", None)
    monkeypatch.setattr(settings, "CELERY_QUEUE", queue)
    shared_queue._client.cache_clear()
    yield Broker(client, url, queue)
    if shared_queue._client.cache_info().currsize:
        shared_queue._client().close()  # its connection pool
    shared_queue._client.cache_clear()
    client.delete(queue, *client.keys(f"_kombu.binding*.{queue}"))
    client.close()


@pytest.fixture
def api_settings(s3_settings: Settings, broker: Broker) -> Settings:
    return s3_settings.model_copy(update={
        "REDIS_URL": broker.url,
        "CELERY_BROKER_URL": None,
        "CELERY_QUEUE": broker.queue,
        "MAX_UPLOAD_MB": 64,
        "API_PUBLIC_URL": None,
        "CORS_ORIGINS": [],
    })


@asynccontextmanager
async def api_client(
    config: Settings, storage: Storage, *, raise_app_exceptions: bool = True, app: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to an in-process app that uses `config` and `storage`."""
    app = app or create_app(config)
    app.dependency_overrides[get_settings] = lambda: config
    app.dependency_overrides[get_storage] = lambda: storage
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def client(
    db: Any, api_settings: Settings, storage: Storage
) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings, storage) as client:
        yield client


# --- helpers --------------------------------------------------------------------------------


def bucket_keys(storage: Storage) -> list[str]:
    pages = storage.client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def unfinished_multipart_uploads(storage: Storage) -> list[dict[str, Any]]:
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


def object_bytes(storage: Storage, key: str) -> bytes:
    return storage.client.get_object(Bucket=storage.bucket, Key=key)["Body"].read()


def jobs_in_db(db: Any) -> list[Job]:
    with db() as session:
        return list(session.scalars(select(Job).order_by(Job.created_at)))


def assert_nothing_stored(db: Any, storage: Storage, broker: Broker) -> None:
    assert bucket_keys(storage) == []
    assert unfinished_multipart_uploads(storage) == []
    assert jobs_in_db(db) == []
    assert broker.messages() == []


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str) -> bytes:
    """A multipart/form-data body from (name, filename, content type, data) in this order."""
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def in_chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """A request body without Content-Length (sent chunked)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def add_job(db: Any, **fields: Any) -> Job:
    job_id = fields.pop("id", None) or uuid.uuid4()
    values: dict[str, Any] = {
        "status": JobStatus.queued.value,
        "input_key": input_key(job_id, "dance.mp4"),
        "input_filename": "dance.mp4",
        "options": {},
    }
    values.update(fields)
    with db() as session:
        job = Job(id=job_id, **values)
        session.add(job)
    return job


def add_finished_job(db: Any, storage: Storage, status: str = "succeeded", **fields: Any) -> Job:
    """A job as a worker leaves it, with its input and outputs in the bucket."""
    job_id = uuid.uuid4()
    keys = output_keys(job_id)
    storage.client.put_object(
        Bucket=storage.bucket, Key=input_key(job_id, "dance.mp4"), Body=fake_video(1024)
    )
    if status == JobStatus.succeeded.value:
        for key, body in zip(keys.all(), (b"annotated video", b'{"frames": []}', b"{}"),
                             strict=True):
            storage.client.put_object(Bucket=storage.bucket, Key=key, Body=body)
        fields |= {
            "output_video_key": keys.video,
            "output_keypoints_key": keys.keypoints,
            "output_summary_key": keys.summary,
            "progress": 100,
            "metrics": {"total_frames": 10, "detection_rate": 1.0},
        }
    if status == JobStatus.failed.value:
        fields |= {"error_code": "not_a_video", "error_message": "the file is not a video"}
    return add_job(db, id=job_id, status=status, started_at=utcnow(), finished_at=utcnow(),
                   **fields)


# --- submitting a video ---------------------------------------------------------------------


async def test_submit_stores_the_video_records_the_job_and_queues_it(
    client, db, storage, broker, api_settings
):
    video = fake_video(300 * 1024)
    response = await client.post(
        "/api/jobs",
        files={"video": ("My Dance.MP4", video, "video/mp4")},
        data={"webhook_url": "https://example.com/hooks?x=1",
              "options": '{"min_detection_confidence": 0.7}'},
    )

    assert response.status_code == 202, response.text
    body = response.json()
    job_id = body["job_id"]
    assert response.headers["location"] == f"/api/status/{job_id}"
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["result"] is None and body["error"] is None
    assert body["options"] == {
        "min_detection_confidence": 0.7,
        "min_tracking_confidence": api_settings.MIN_TRACKING_CONFIDENCE,
    }

    [job] = jobs_in_db(db)
    assert str(job.id) == job_id
    assert job.status == "queued"
    assert job.input_key == f"inputs/{job_id}/source.mp4"
    assert job.input_filename == "My Dance.MP4"
    assert job.input_size_bytes == len(video)
    assert job.input_content_type == "video/mp4"
    assert job.webhook_url == "https://example.com/hooks?x=1"
    assert job.options == body["options"]
    assert job.idempotency_key is None

    assert bucket_keys(storage) == [job.input_key]
    assert object_bytes(storage, job.input_key) == video
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [job_id], "kwargs": {}}]


async def test_a_12_mib_video_reaches_s3_intact_as_a_multipart_upload(client, db, storage):
    video = fake_video(12 * MiB + 123)

    response = await client.post("/api/jobs", files={"video": ("big.mp4", video, "video/mp4")})

    assert response.status_code == 202, response.text
    key = input_key(response.json()["job_id"], "big.mp4")
    assert object_bytes(storage, key) == video
    etag = storage.client.head_object(Bucket=storage.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-2")  # two 8 MiB parts: streamed, not one big PUT
    assert unfinished_multipart_uploads(storage) == []


async def test_a_chunked_upload_without_content_length_is_accepted(client, db, storage):
    video = fake_video(3 * MiB)
    boundary = "b0und4ry"
    body = multipart([("video", "c.webm", "video/webm", video)], boundary)

    response = await client.post(
        "/api/jobs",
        content=in_chunks(body, 100_000),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 202, response.text
    [job] = jobs_in_db(db)
    assert job.input_key.endswith("/source.webm")
    assert job.input_content_type == "video/webm"
    assert object_bytes(storage, job.input_key) == video


async def test_options_default_to_the_settings(client, db, api_settings):
    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(4096))})

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.options == {
        "min_detection_confidence": api_settings.MIN_DETECTION_CONFIDENCE,
        "min_tracking_confidence": api_settings.MIN_TRACKING_CONFIDENCE,
    }
    assert job.webhook_url is None


async def test_location_is_absolute_when_a_public_url_is_set(db, storage, api_settings):
    config = api_settings.model_copy(update={"API_PUBLIC_URL": "https://dance.example.com/"})
    async with api_client(config, storage) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"https://dance.example.com/api/status/{job_id}"
    assert response.json()["links"]["self"] == f"https://dance.example.com/api/jobs/{job_id}"


async def test_the_legacy_analyze_route_submits_like_post_jobs(client, db, storage, broker):
    video = fake_video(5000)

    response = await client.post("/api/analyze", files={"video": ("old.mov", video)})

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"/api/status/{job_id}"
    assert object_bytes(storage, f"inputs/{job_id}/source.mov") == video
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [job_id], "kwargs": {}}]


async def test_the_filename_is_reduced_to_a_safe_base_name(client, db, storage):
    boundary = "names"
    body = multipart([("video", "..\\..\\C:\\temp\\x/../evil\x07.mp4", None, fake_video(2048))],
                     boundary)

    response = await client.post(
        "/api/jobs", content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.input_filename == "evil.mp4"
    assert bucket_keys(storage) == [f"inputs/{job.id}/source.mp4"]


async def test_the_job_row_is_committed_before_the_task_is_sent(client, db, monkeypatch):
    seen_by_another_session: list[str | None] = []

    def enqueue_and_look(job_id: uuid.UUID) -> None:
        with db() as session:  # a new connection: sees only committed rows
            job = session.get(Job, job_id)
            seen_by_another_session.append(job.status if job else None)
        real_enqueue_job(job_id)

    monkeypatch.setattr(api_jobs, "enqueue_job", enqueue_and_look)

    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    assert response.status_code == 202
    assert seen_by_another_session == ["queued"]


async def test_a_failed_enqueue_still_answers_202_and_keeps_the_job_queued(
    client, db, storage, monkeypatch
):
    monkeypatch.setattr(settings, "REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    shared_queue._client.cache_clear()

    response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})

    assert response.status_code == 202
    [job] = jobs_in_db(db)
    assert job.status == "queued"  # the reconciler re-enqueues it later
    assert bucket_keys(storage) == [job.input_key]


# --- refusing uploads -----------------------------------------------------------------------


class TrackedBody:
    """A request body that records how much of it the server read."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024):
        self.data, self.chunk, self.read = data, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            self.read += len(self.data[start : start + self.chunk])
            yield self.data[start : start + self.chunk]


async def test_a_declared_size_over_the_limit_is_refused_before_reading(
    db, storage, broker, api_settings
):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    boundary = "early"
    body = TrackedBody(multipart([("video", "big.mp4", "video/mp4", fake_video(2 * MiB))],
                                 boundary))
    async with api_client(config, storage) as client:
        response = await client.post(
            "/api/jobs", content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}",
                     "content-length": str(len(body.data))},
        )

    assert body.read == 0
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert response.json()["details"] == {"max_bytes": MiB}
    assert_nothing_stored(db, storage, broker)


async def test_a_streamed_file_over_the_limit_aborts_the_s3_upload_it_started(
    db, storage, broker, api_settings
):
    # 9 MiB limit, 10 MiB sent without Content-Length: one 8 MiB part is already in S3
    # when the limit is crossed, and the multipart upload must be aborted.
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 9})
    boundary = "xyzzy"
    body = multipart([("video", "big.mp4", "video/mp4", fake_video(10 * MiB))], boundary)
    async with api_client(config, storage) as client:
        response = await client.post(
            "/api/jobs",
            content=in_chunks(body),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )

    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert_nothing_stored(db, storage, broker)


async def test_a_file_of_exactly_the_limit_is_accepted(db, storage, api_settings):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    async with api_client(config, storage) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(MiB))})

    assert response.status_code == 202
    assert jobs_in_db(db)[0].input_size_bytes == MiB


async def test_a_text_file_is_refused_as_not_a_video(client, db, storage, broker):
    response = await client.post(
        "/api/jobs", files={"video": ("notes.mp4", b"just some text\n" * 1000, "video/mp4")}
    )

    assert response.status_code == 415
    assert response.json()["code"] == "not_a_video"
    assert_nothing_stored(db, storage, broker)


async def test_an_empty_file_is_refused(client, db, storage, broker):
    response = await client.post("/api/jobs", files={"video": ("empty.mp4", b"", "video/mp4")})

    assert response.status_code == 400
    assert response.json()["code"] == "empty_file"
    assert_nothing_stored(db, storage, broker)


async def test_a_form_without_the_video_field_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"file": ("a.mp4", fake_video(2048))},
        data={"webhook_url": "https://example.com/h"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "missing_file"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("video/mp4", fake_video(2048)),
        ("text/plain", b"hello"),
        (None, b""),
    ],
)
async def test_a_body_that_is_neither_multipart_nor_json_is_refused(
    client, db, storage, broker, content_type, content
):
    headers = {"content-type": content_type} if content_type else {}

    response = await client.post("/api/jobs", content=content, headers=headers)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert_nothing_stored(db, storage, broker)


async def test_a_truncated_multipart_body_is_refused(client, db, storage, broker):
    boundary = "cut"
    body = multipart([("video", "a.mp4", None, fake_video(200_000))], boundary)

    response = await client.post(
        "/api/jobs",
        content=body[:-40],
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_multipart"
    assert_nothing_stored(db, storage, broker)


async def test_two_video_parts_are_refused(client, db, storage, broker):
    boundary = "two"
    body = multipart(
        [("video", "a.mp4", None, fake_video(2048)), ("video", "b.mp4", None, fake_video(2048))],
        boundary,
    )

    response = await client.post(
        "/api/jobs", content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "multiple_files"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    "options",
    [
        "not json",
        "[0.5]",
        '{"min_detection_confidence": 1.5}',
        '{"min_tracking_confidence": -0.1}',
        '{"min_detection_confidence": "high"}',
        '{"model": "heavy"}',
    ],
)
async def test_invalid_options_are_refused(client, db, storage, broker, options):
    response = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))}, data={"options": options}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_options"
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "/relative/hook",
        "http://",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "https://example.com/" + "a" * 2048,
    ],
)
async def test_invalid_webhook_urls_are_refused(client, db, storage, broker, url):
    response = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))}, data={"webhook_url": url}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_webhook_url"
    assert_nothing_stored(db, storage, broker)


async def test_a_field_after_the_file_is_validated_before_the_object_is_kept(
    client, db, storage, broker
):
    # The 9 MiB video is already partly in S3 when the invalid options arrive.
    boundary = "late"
    body = multipart(
        [("video", "a.mp4", "video/mp4", fake_video(9 * MiB)), ("options", None, None, b"{")],
        boundary,
    )

    split = body.index(b'Content-Disposition: form-data; name="options"')

    async def file_then_options() -> AsyncIterator[bytes]:
        async for chunk in in_chunks(body[:split]):  # the whole file part, its end is known
            yield chunk
        yield body[split:]

    response = await client.post(
        "/api/jobs", content=file_then_options(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_options"
    assert_nothing_stored(db, storage, broker)


async def test_an_oversized_text_field_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs",
        files={"video": ("a.mp4", fake_video(2048))},
        data={"comment": "x" * 100_000},
    )

    assert response.status_code == 413
    assert response.json()["code"] == "field_too_large"
    assert_nothing_stored(db, storage, broker)


# --- idempotency ----------------------------------------------------------------------------


async def test_an_idempotency_key_answers_the_same_job_without_storing_again(
    client, db, storage, broker
):
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(4096))}, headers=headers
    )
    # The repeat is not even read: a text file would otherwise be refused with 415.
    boundary = "again"
    repeat = TrackedBody(multipart([("video", "b.txt", None, b"not a video")], boundary))
    again = await client.post(
        "/api/jobs", content=repeat,
        headers=headers | {"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert repeat.read == 0
    [job] = jobs_in_db(db)
    assert job.idempotency_key == "order-42"
    assert bucket_keys(storage) == [job.input_key]
    assert len(broker.messages()) == 1


async def test_concurrent_requests_with_one_idempotency_key_make_one_job(
    client, db, storage, broker
):
    async def submit() -> httpx.Response:
        return await client.post(
            "/api/jobs", files={"video": ("a.mp4", fake_video(3 * MiB))},
            headers={"Idempotency-Key": "same"},
        )

    results: list[httpx.Response] = []

    async def submit_into_results() -> None:
        results.append(await submit())

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(submit_into_results)

    assert [r.status_code for r in results] == [202, 202, 202]
    assert len({r.json()["job_id"] for r in results}) == 1
    [job] = jobs_in_db(db)
    assert bucket_keys(storage) == [job.input_key]  # the losers' copies were deleted
    assert len(broker.messages()) == 1


async def test_different_idempotency_keys_make_different_jobs(client, db):
    for key in ("k1", "k2"):
        response = await client.post(
            "/api/jobs", files={"video": ("a.mp4", fake_video(2048))},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 202
    assert len(jobs_in_db(db)) == 2


async def test_an_overlong_idempotency_key_is_refused(client, db, storage, broker):
    response = await client.post(
        "/api/jobs", files={"video": ("a.mp4", fake_video(2048))},
        headers={"Idempotency-Key": "k" * 256},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_idempotency_key"
    assert_nothing_stored(db, storage, broker)


# --- status ---------------------------------------------------------------------------------


async def test_status_is_served_at_both_urls(client, db):
    submitted = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})
    job_id = submitted.json()["job_id"]

    by_status = await client.get(f"/api/status/{job_id}")
    by_job = await client.get(f"/api/jobs/{job_id}")

    assert by_status.status_code == by_job.status_code == 200
    assert by_status.json() == by_job.json()
    assert by_status.json()["job_id"] == job_id
    assert by_status.json()["status"] == "queued"


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "1' OR '1'='1"])
@pytest.mark.parametrize("route", ["/api/status/{}", "/api/jobs/{}"])
async def test_status_of_an_unknown_or_malformed_id_is_404(client, route, job_id):
    response = await client.get(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


async def test_status_of_a_succeeded_job_has_presigned_urls(client, db, storage):
    job = add_finished_job(db, storage)

    body = (await client.get(f"/api/status/{job.id}")).json()

    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["metrics"] == {"total_frames": 10, "detection_rate": 1.0}
    assert httpx.get(body["result"]["video_url"]).content == b"annotated video"
    assert httpx.get(body["result"]["keypoints_url"]).content == b'{"frames": []}'
    assert body["result"]["expires_at"]


async def test_status_of_a_failed_job_has_its_error(client, db, storage):
    job = add_finished_job(db, storage, status="failed")

    body = (await client.get(f"/api/status/{job.id}")).json()

    assert body["status"] == "failed"
    assert body["error"] == {"code": "not_a_video", "message": "the file is not a video"}
    assert body["result"] is None


# --- direct-to-storage uploads --------------------------------------------------------------


async def test_presigned_post_upload_then_job_creation(client, db, storage, broker, api_settings):
    ticket = await client.post(
        "/api/uploads", json={"filename": "routine.mp4", "content_type": "video/mp4"}
    )
    assert ticket.status_code == 201, ticket.text
    t = ticket.json()
    upload_id = t["upload_id"]
    assert t["method"] == "POST"
    assert t["key"] == f"inputs/{upload_id}/source.mp4"
    assert t["max_bytes"] == api_settings.MAX_UPLOAD_MB * MiB
    assert t["fields"]["key"] == t["key"]
    assert t["put_url"].startswith(api_settings.S3_ENDPOINT_URL)

    video = fake_video(6000)
    uploaded = httpx.post(t["url"], data=t["fields"], files={"file": ("routine.mp4", video)})
    assert uploaded.status_code in (200, 201, 204), uploaded.text

    created = await client.post(
        "/api/jobs",
        json={"upload_id": upload_id, "webhook_url": "https://example.com/h",
              "options": {"min_tracking_confidence": 0.25}},
    )

    assert created.status_code == 202, created.text
    assert created.json()["job_id"] == upload_id
    assert created.headers["location"] == f"/api/status/{upload_id}"
    [job] = jobs_in_db(db)
    assert str(job.id) == upload_id
    assert job.input_key == t["key"]
    assert job.input_size_bytes == len(video)
    assert job.input_content_type == "video/mp4"
    assert job.webhook_url == "https://example.com/h"
    assert job.options["min_tracking_confidence"] == 0.25
    assert broker.messages() == [{"task": PROCESS_JOB, "args": [upload_id], "kwargs": {}}]

    again = await client.post("/api/jobs", json={"upload_id": upload_id})
    assert again.status_code == 409
    assert again.json()["code"] == "job_exists"


async def test_presigned_put_upload_then_job_creation(client, db, storage):
    t = (await client.post("/api/uploads", json={"filename": "clip.mkv"})).json()
    video = b"\x1a\x45\xdf\xa3" + os.urandom(4000)
    assert httpx.put(t["put_url"], content=video).status_code == 200

    created = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert created.status_code == 202, created.text
    [job] = jobs_in_db(db)
    assert job.input_key == f"inputs/{t['upload_id']}/source.mkv"
    assert job.input_content_type == "video/x-matroska"


async def test_a_job_for_an_upload_that_never_happened_is_refused(client, db, broker):
    t = (await client.post("/api/uploads", json={"filename": "a.mp4"})).json()

    response = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == 400
    assert response.json()["code"] == "upload_not_found"
    assert jobs_in_db(db) == []
    assert broker.messages() == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"plain text, not a video" * 10, 415, "not_a_video"),
        (b"", 400, "empty_file"),
        (fake_video(MiB + 1), 413, "file_too_large"),
    ],
)
async def test_a_refused_direct_upload_is_deleted(
    db, storage, broker, api_settings, content, status, code
):
    config = api_settings.model_copy(update={"MAX_UPLOAD_MB": 1})
    async with api_client(config, storage) as client:
        t = (await client.post("/api/uploads", json={"filename": "a.mp4"})).json()
        assert httpx.put(t["put_url"], content=content).status_code == 200

        response = await client.post("/api/jobs", json={"upload_id": t["upload_id"]})

    assert response.status_code == status
    assert response.json()["code"] == code
    assert_nothing_stored(db, storage, broker)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"upload_id": "nope"}, "validation_error"),
        ({}, "validation_error"),
        ({"upload_id": str(uuid.uuid4()), "extra": 1}, "validation_error"),
        ({"upload_id": str(uuid.uuid4()), "options": {"x": 1}}, "invalid_options"),
        ({"upload_id": str(uuid.uuid4()), "options": [1]}, "invalid_options"),
        ({"upload_id": str(uuid.uuid4()), "webhook_url": "gopher://x"}, "invalid_webhook_url"),
    ],
)
async def test_an_invalid_json_job_request_is_refused(client, db, body, code):
    response = await client.post("/api/jobs", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == code
    assert jobs_in_db(db) == []


async def test_a_json_body_that_does_not_parse_is_refused(client):
    response = await client.post(
        "/api/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [{"content_type": "text/plain"}, {"filename": "a.mp4", "size": 3}, {"filename": 5}],
)
async def test_an_invalid_upload_request_is_refused(client, body):
    response = await client.post("/api/uploads", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_the_presigned_post_caps_the_size_and_expires(client, api_settings):
    t = (await client.post("/api/uploads", json={"filename": "a.mp4"})).json()

    policy = json.loads(base64.b64decode(t["fields"]["policy"]))
    assert ["content-length-range", 1, api_settings.MAX_UPLOAD_MB * MiB] in policy["conditions"]
    expires_at = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00"))
    expected = utcnow() + timedelta(seconds=api_settings.PRESIGNED_URL_EXPIRY_S)
    assert abs((expires_at - expected).total_seconds()) < 60


# --- outputs --------------------------------------------------------------------------------


@pytest.fixture
def public_storage(s3_settings: Settings) -> Storage:
    """The test bucket, with presigned URLs signed for another host name of the same server."""
    port = urlsplit(s3_settings.S3_ENDPOINT_URL).port
    config = s3_test_settings(s3_settings.S3_ENDPOINT_URL, s3_settings.S3_BUCKET,
                              S3_PUBLIC_ENDPOINT_URL=f"http://localhost:{port}")
    return Storage(config)


@pytest.mark.parametrize(
    ("route", "content", "download_name"),
    [
        ("/api/jobs/{}/video", b"annotated video", "dance_annotated.mp4"),
        ("/api/jobs/{}/keypoints", b'{"frames": []}', "dance_keypoints.json"),
        ("/api/jobs/{}/summary", b"{}", "dance_summary.json"),
        ("/api/download/{}", b"annotated video", "dance_annotated.mp4"),
    ],
)
async def test_outputs_redirect_to_presigned_urls_on_the_public_endpoint(
    db, public_storage, api_settings, route, content, download_name
):
    job = add_finished_job(db, public_storage)
    config = public_storage.settings.model_copy(update={"CELERY_QUEUE": api_settings.CELERY_QUEUE})
    async with api_client(config, public_storage) as client:
        response = await client.get(route.format(job.id))

    assert response.status_code == 302
    location = response.headers["location"]
    assert urlsplit(location).netloc == urlsplit(config.s3_public_endpoint_url).netloc
    assert urlsplit(location).hostname == "localhost"
    query = parse_qs(urlsplit(location).query)
    assert int(query["X-Amz-Expires"][0]) == config.PRESIGNED_URL_EXPIRY_S
    assert download_name in query["response-content-disposition"][0]
    assert httpx.get(location).content == content


@pytest.mark.parametrize("status", ["queued", "processing"])
@pytest.mark.parametrize("output", ["video", "keypoints", "summary"])
async def test_outputs_of_an_unfinished_job_are_409(client, db, status, output):
    job = add_job(db, status=status)

    response = await client.get(f"/api/jobs/{job.id}/{output}")

    assert response.status_code == 409
    assert response.json()["code"] == "job_not_finished"
    assert response.headers["retry-after"]


async def test_outputs_of_a_failed_job_are_409_job_failed(client, db, storage):
    job = add_finished_job(db, storage, status="failed")

    response = await client.get(f"/api/jobs/{job.id}/video")
    legacy = await client.get(f"/api/download/{job.id}")

    assert response.status_code == legacy.status_code == 409
    assert response.json()["code"] == legacy.json()["code"] == "job_failed"
    assert response.json()["details"]["error"]["code"] == "not_a_video"


async def test_outputs_of_a_deleted_job_are_410(client, db, storage):
    job = add_finished_job(db, storage)
    assert (await client.delete(f"/api/jobs/{job.id}")).status_code == 200

    response = await client.get(f"/api/jobs/{job.id}/keypoints")

    assert response.status_code == 410
    assert response.json()["code"] == "job_deleted"


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "garbage"])
@pytest.mark.parametrize(
    "route", ["/api/jobs/{}/video", "/api/jobs/{}/keypoints", "/api/download/{}"]
)
async def test_outputs_of_an_unknown_job_are_404(client, route, job_id):
    response = await client.get(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


# --- deleting -------------------------------------------------------------------------------


async def test_delete_removes_the_objects_and_marks_the_job_deleted(client, db, storage):
    job = add_finished_job(db, storage)
    other = add_finished_job(db, storage)

    response = await client.delete(f"/api/jobs/{job.id}")

    assert response.status_code == 200
    assert response.json()["job_id"] == str(job.id)
    assert response.json()["status"] == "deleted"
    assert response.json()["result"] is None
    assert not [key for key in bucket_keys(storage) if str(job.id) in key]
    assert len([key for key in bucket_keys(storage) if str(other.id) in key]) == 4
    rows = {row.id: row for row in jobs_in_db(db)}
    assert rows[job.id].status == "deleted" and rows[job.id].deleted_at is not None
    assert rows[other.id].status == "succeeded"

    again = await client.delete(f"/api/jobs/{job.id}")
    assert again.status_code == 200
    assert again.json()["status"] == "deleted"
    status = await client.get(f"/api/status/{job.id}")
    assert status.json()["status"] == "deleted"


async def test_delete_of_a_queued_job_marks_it_deleted(client, db, storage):
    submitted = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(2048))})
    job_id = submitted.json()["job_id"]

    response = await client.delete(f"/api/jobs/{job_id}")

    assert response.json()["status"] == "deleted"
    assert bucket_keys(storage) == []


async def test_legacy_cleanup_answers_the_deleted_keys(client, db, storage):
    job = add_finished_job(db, storage)
    keys = sorted([input_key(job.id, "dance.mp4"), *output_keys(job.id).all()])

    response = await client.delete(f"/api/cleanup/{job.id}")
    again = await client.delete(f"/api/cleanup/{job.id}")

    assert response.status_code == 200
    assert response.json() == {"job_id": str(job.id), "deleted_files": keys, "count": 4}
    assert again.status_code == 200
    assert again.json() == {"job_id": str(job.id), "deleted_files": [], "count": 0}
    assert jobs_in_db(db)[0].status == "deleted"


@pytest.mark.parametrize("route", ["/api/jobs/{}", "/api/cleanup/{}"])
@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "zzz"])
async def test_delete_of_an_unknown_job_is_404(client, route, job_id):
    response = await client.delete(route.format(job_id))

    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


# --- listing --------------------------------------------------------------------------------


def add_jobs_over_time(db: Any, statuses: list[str]) -> list[Job]:
    """Jobs created one minute apart, oldest first."""
    start = utcnow() - timedelta(hours=1)
    return [
        add_job(db, status=status, created_at=start + timedelta(minutes=i))
        for i, status in enumerate(statuses)
    ]


async def test_list_is_newest_first_and_pages_with_next(client, db):
    jobs = add_jobs_over_time(db, ["queued", "processing", "succeeded", "failed", "queued"])

    seen: list[str] = []
    url: str | None = "/api/jobs?limit=2"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["job_id"] for item in page["items"]]
        url, pages = page["next"], pages + 1

    assert seen == [str(job.id) for job in reversed(jobs)]
    assert pages == 3


async def test_list_default_page_size_is_20(client, db):
    add_jobs_over_time(db, ["queued"] * 21)

    page = (await client.get("/api/jobs")).json()

    assert len(page["items"]) == 20
    assert page["next"] is not None


async def test_list_filters_by_status(client, db):
    jobs = add_jobs_over_time(db, ["queued", "failed", "queued", "succeeded"])

    page = (await client.get("/api/jobs?status=queued")).json()

    assert [item["job_id"] for item in page["items"]] == [str(jobs[2].id), str(jobs[0].id)]
    assert page["next"] is None


async def test_list_hides_deleted_jobs_unless_asked(client, db):
    jobs = add_jobs_over_time(db, ["queued", "deleted", "failed"])

    default = (await client.get("/api/jobs")).json()
    included = (await client.get("/api/jobs?include_deleted=true")).json()
    only = (await client.get("/api/jobs?status=deleted")).json()

    assert [item["job_id"] for item in default["items"]] == [str(jobs[2].id), str(jobs[0].id)]
    assert len(included["items"]) == 3
    assert [item["job_id"] for item in only["items"]] == [str(jobs[1].id)]


async def test_list_next_keeps_the_filter(client, db):
    add_jobs_over_time(db, ["failed", "queued", "failed", "failed"])

    first = (await client.get("/api/jobs?status=failed&limit=2")).json()
    second = (await client.get(first["next"])).json()

    assert "status=failed" in first["next"]
    assert len(second["items"]) == 1 and second["items"][0]["status"] == "failed"
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "validation_error"),
        ("limit=101", "validation_error"),
        ("status=running", "validation_error"),
        ("cursor=bm90LWEtY3Vyc29y", "invalid_cursor"),
    ],
)
async def test_list_refuses_bad_parameters(client, db, query, code):
    response = await client.get(f"/api/jobs?{query}")

    assert response.status_code == 422
    assert response.json()["code"] == code


# --- health ---------------------------------------------------------------------------------


async def test_health_answers_without_dependencies(storage, api_settings):
    broken = api_settings.model_copy(
        update={"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    )
    async with api_client(broken, storage) as client:
        response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_dependency_answers(client):
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready", "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"}
    }


async def test_not_ready_names_a_redis_that_is_down(db, storage, api_settings):
    broken = api_settings.model_copy(
        update={"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    )
    async with api_client(broken, storage) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["message"] == "not ready: redis"
    assert body["checks"]["postgres"] == "ok" and body["checks"]["s3"] == "ok"
    assert body["checks"]["redis"] != "ok"


async def test_not_ready_names_an_s3_that_is_down(db, api_settings):
    down = s3_test_settings(f"http://127.0.0.1:{closed_port()}", "nowhere")
    async with api_client(api_settings, Storage(down)) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["message"] == "not ready: s3"
    assert response.json()["checks"]["redis"] == "ok"


@pytest.fixture
def database_down(db: Any) -> Iterator[None]:
    """`shared.db` pointed at a port where no Postgres listens (the `db` fixture restores it)."""
    shared_db.configure_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    yield


async def test_not_ready_names_a_database_that_is_down(database_down, storage, api_settings):
    async with api_client(api_settings, storage) as client:
        response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["message"] == "not ready: postgres"
    assert response.json()["checks"]["s3"] == "ok"


async def test_a_submission_while_the_database_is_down_is_503_and_leaves_no_object(
    database_down, storage, broker, api_settings
):
    async with api_client(api_settings, storage) as client:
        response = await client.post("/api/jobs", files={"video": ("a.mp4", fake_video(4096))})

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert bucket_keys(storage) == []
    assert broker.messages() == []


async def test_a_client_disconnect_mid_upload_leaves_nothing_in_the_bucket(storage):
    boundary = "gone"
    body = multipart([("video", "a.mp4", None, fake_video(12 * MiB))], boundary)

    async def disconnects_after_10_mib() -> AsyncIterator[bytes]:
        async for chunk in in_chunks(body[: 10 * MiB]):
            yield chunk
        raise ClientDisconnect()

    reader = VideoFormReader(storage, key_for=lambda name: input_key(uuid.uuid4(), name),
                             max_bytes=64 * MiB, field_parsers={})
    with pytest.raises(APIError) as refused:
        await reader.read(disconnects_after_10_mib(), boundary.encode())

    assert refused.value.code == "upload_interrupted"
    assert bucket_keys(storage) == []
    assert unfinished_multipart_uploads(storage) == []


# --- errors, docs, CORS ---------------------------------------------------------------------


async def test_an_unknown_route_is_a_json_404(client):
    response = await client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "no route GET /api/nothing-here"}


async def test_a_wrong_method_is_a_json_405(client):
    response = await client.put("/api/jobs")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


async def test_a_validation_error_is_json_with_details(client):
    response = await client.get("/api/jobs?limit=many")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert "limit" in body["message"]
    assert body["details"][0]["loc"] == ["query", "limit"]


async def test_an_unexpected_error_is_a_json_500_without_internals(db, storage, api_settings):
    app = create_app(api_settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    async with api_client(api_settings, storage, app=app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"code": "internal_error", "message": "internal server error"}


async def test_the_openapi_document_describes_the_contract(client):
    schema = (await client.get("/openapi.json")).json()
    docs = await client.get("/docs")

    assert docs.status_code == 200
    submit = schema["paths"]["/api/jobs"]["post"]
    assert submit["summary"]
    multipart_body = submit["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert multipart_body["required"] == ["video"]
    assert "application/json" in submit["requestBody"]["content"]
    assert "202" in submit["responses"] and "413" in submit["responses"]
    assert schema["components"]["schemas"]["JobStatusPublic"]["examples"]
    for path in ("/api/status/{job_id}", "/api/jobs/{job_id}/video", "/api/jobs/{job_id}/keypoints",
                 "/api/uploads", "/health", "/ready", "/api/analyze", "/api/download/{job_id}",
                 "/api/cleanup/{job_id}"):
        assert path in schema["paths"]


async def test_cors_is_enabled_only_for_configured_origins(db, storage, api_settings):
    config = api_settings.model_copy(update={"CORS_ORIGINS": ["https://app.example.com"]})
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "idempotency-key"}
    async with api_client(config, storage) as client:
        allowed = await client.options("/api/jobs", headers=preflight)
        other = await client.options(
            "/api/jobs", headers=preflight | {"Origin": "https://evil.example.com"}
        )
    async with api_client(api_settings, storage) as client:
        disabled = await client.get("/health", headers={"Origin": "https://app.example.com"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in disabled.headers


def test_the_api_imports_no_video_library_and_no_worker_code():
    # A fresh interpreter: this test process may have imported them for other tests.
    check = (
        "import sys, api.main\n"
        "banned = {'mediapipe', 'av', 'cv2', 'worker'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"



# --- metrics --------------------------------------------------------------------------------


def prometheus(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


async def test_metrics_count_jobs_failures_latency_webhooks_and_queue_depth(
    client: httpx.AsyncClient, db: Any, broker: Broker
) -> None:
    now = utcnow()
    add_job(db)
    add_job(db, status="processing")
    for seconds in (2.0, 4.0, 6.0):
        add_job(db, status="succeeded", finished_at=now, processing_time_s=seconds,
                queue_wait_s=0.5)
    failed = add_job(db, status="failed", finished_at=now, error_code="not_a_video",
                     queue_wait_s=1.5)
    add_job(db, status="failed", finished_at=now - timedelta(hours=2), error_code="old")
    with db() as session:
        session.add_all([
            WebhookDelivery(job_id=failed.id, event_type="job.failed", webhook_id="msg_1",
                            attempt=1, url="https://example.com", status_code=500,
                            latency_ms=30.0),
            WebhookDelivery(job_id=failed.id, event_type="job.failed", webhook_id="msg_1",
                            attempt=2, url="https://example.com", status_code=204,
                            latency_ms=10.0),
            WebhookDelivery(job_id=failed.id, event_type="job.failed", webhook_id="msg_1",
                            attempt=3, url="https://example.com", error="timeout"),
        ])
    real_enqueue_job(uuid.uuid4())  # one message waiting in the (test) video queue

    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    m = prometheus(answer.text)
    assert m['dance_jobs{status="queued"}'] == 1
    assert m['dance_jobs{status="processing"}'] == 1
    assert m['dance_jobs{status="succeeded"}'] == 3
    assert m['dance_jobs{status="failed"}'] == 2
    assert m['dance_jobs_finished_last_hour{status="failed"}'] == 1  # the old one is out
    assert m['dance_job_failures_last_hour{code="not_a_video"}'] == 1
    assert 'dance_job_failures_last_hour{code="old"}' not in m
    assert m['dance_job_processing_seconds{quantile="0.5"}'] == 4.0
    assert (m["dance_job_processing_seconds_sum"], m["dance_job_processing_seconds_count"]) == (
        12.0, 3)
    assert m["dance_job_queue_wait_seconds_count"] == 4
    assert m['dance_webhook_attempts_last_hour{result="5xx"}'] == 1
    assert m['dance_webhook_attempts_last_hour{result="2xx"}'] == 1
    assert m['dance_webhook_attempts_last_hour{result="error"}'] == 1
    assert m["dance_webhook_latency_ms_median"] == 20.0
    assert m[f'dance_queue_depth{{queue="{broker.queue}"}}'] == 1

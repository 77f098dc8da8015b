"""Helpers of the API tests: request bodies, a client on an in-process app, rows and
objects to arrange and inspect."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
from sqlalchemy import select

from api.deps import get_settings
from api.main import create_app
from shared.config import Settings
from shared.models import Job, utcnow
from shared.states import JobStatus
from shared.storage import Storage, get_storage
from shared.storage_keys import export_key, input_key, output_keys

MP4_HEAD = struct.pack(">I", 24) + b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2"


def fake_video(size: int) -> bytes:
    """Bytes that open like an MP4 (an `ftyp` box), padded with noise to `size`."""
    return MP4_HEAD + os.urandom(size - len(MP4_HEAD))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ApiTenant:
    """A tenant made for a test, with its plaintext API key and webhook secret."""

    id: uuid.UUID
    name: str
    api_key: str
    webhook_secret: str
    headers: dict[str, str] = field(default_factory=dict)


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


@asynccontextmanager
async def api_client(
    config: Settings,
    storage: Storage,
    *,
    headers: dict[str, str] | None = None,
    raise_app_exceptions: bool = True,
    app: Any = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to an in-process app that uses `config` and `storage`, sending
    `headers` (e.g. a tenant's Authorization) with every request."""
    app = app or create_app(config)
    app.dependency_overrides[get_settings] = lambda: config
    app.dependency_overrides[get_storage] = lambda: storage
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers or {}
    ) as client:
        yield client


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


class TrackedBody:
    """A request body that records how much of it the server read."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024):
        self.data, self.chunk, self.read = data, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            self.read += len(self.data[start : start + self.chunk])
            yield self.data[start : start + self.chunk]


def add_job(db: Any, tenant: ApiTenant, **fields: Any) -> Job:
    """A job row of `tenant` (queued unless `status=` says otherwise)."""
    job_id = fields.pop("id", None) or uuid.uuid4()
    values: dict[str, Any] = {
        "status": JobStatus.queued.value,
        "input_key": input_key(job_id, "dance.mp4"),
        "input_filename": "dance.mp4",
        "options": {},
    }
    values.update(fields)
    with db() as session:
        job = Job(id=job_id, tenant_id=tenant.id, **values)
        session.add(job)
    return job


def add_finished_job(
    db: Any, storage: Storage, tenant: ApiTenant, status: str = "succeeded", **fields: Any
) -> Job:
    """A job as a worker leaves it, with its input and outputs in the bucket."""
    job_id = uuid.uuid4()
    keys = output_keys(job_id)
    storage.client.put_object(
        Bucket=storage.bucket, Key=input_key(job_id, "dance.mp4"), Body=fake_video(1024)
    )
    if status == JobStatus.succeeded.value:
        for key, body in zip(
            keys.values(),
            (b"annotated video", b'{"frames": []}', b"{}", b'{"angles": {}}', b"frame,time_s\n"),
            strict=True,
        ):
            storage.client.put_object(Bucket=storage.bucket, Key=key, Body=body)
        motion = export_key(job_id, "motion.bvh")
        storage.client.put_object(Bucket=storage.bucket, Key=motion, Body=b"HIERARCHY\n")
        fields |= {
            "output_exports": {
                "files": [{"name": "motion.bvh", "format": "bvh", "person": 1, "key": motion}],
                "note": None,
            },
            "output_keys": keys,
            "analysis": {"movement_tempo_bpm": 120.0, "ranges_of_motion": {"right_knee": 80.0}},
            "progress": 100,
            "metrics": {"total_frames": 10, "detection_rate": 1.0},
        }
    if status == JobStatus.failed.value:
        fields |= {"error_code": "not_a_video", "error_message": "the file is not a video"}
    return add_job(
        db, tenant, id=job_id, status=status, started_at=utcnow(), finished_at=utcnow(), **fields
    )

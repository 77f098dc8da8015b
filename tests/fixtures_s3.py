"""Pytest plugin: a local S3 (moto server), a fresh bucket per test, and a webhook receiver.

Load with `pytest_plugins = ["tests.fixtures_s3"]` or `pytest -p tests.fixtures_s3`.

Never use moto's `mock_aws` in the same process: it shares state with the server and
wipes it. Every endpoint here must be a loopback address.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from shared.config import Settings
from shared.config import settings as base_settings
from shared.storage import Storage

TEST_WEBHOOK_SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXdlYmhvb2stdGVzdHM="


def require_loopback(url: str) -> str:
    """Return `url` if its host is a loopback address; refuse anything else."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return url
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url
    except ValueError:
        pass
    raise RuntimeError(f"refusing a non-loopback endpoint in tests: {url!r}")


# --- S3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the session; yields its base URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_test_settings(endpoint_url: str, bucket: str, **overrides: object) -> Settings:
    """A copy of the settings pointed at a loopback S3 with test credentials (a copy is not
    validated: pass secrets as `SecretStr`)."""
    values: dict[str, object] = {
        "ENVIRONMENT": "test",
        "S3_ENDPOINT_URL": endpoint_url,
        "S3_PUBLIC_ENDPOINT_URL": None,
        "S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SecretStr("testing"),
        "AWS_REGION": "us-east-1",
        "WEBHOOK_SECRET": SecretStr(TEST_WEBHOOK_SECRET),
    }
    values.update(overrides)
    copy = base_settings.model_copy(update=values)
    require_loopback(copy.S3_ENDPOINT_URL)
    require_loopback(copy.s3_public_endpoint_url)
    return copy


@pytest.fixture(scope="session")
def _s3_admin(moto_server: str) -> Any:
    """One raw client for creating and removing the test buckets."""
    settings = s3_test_settings(moto_server, "unused")
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.S3_ENDPOINT_URL,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.get_secret_value(),
        region_name=settings.AWS_REGION,
    )


def _empty_and_delete_bucket(client: Any, bucket: str) -> None:
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    for upload in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_settings(moto_server: str, _s3_admin: Any) -> Iterator[Settings]:
    """Settings for a fresh, empty bucket of its own (emptied and deleted afterwards)."""
    settings = s3_test_settings(moto_server, f"test-{uuid.uuid4().hex[:16]}")
    _s3_admin.create_bucket(Bucket=settings.S3_BUCKET)
    yield settings
    _empty_and_delete_bucket(_s3_admin, settings.S3_BUCKET)


@pytest.fixture
def storage(s3_settings: Settings) -> Storage:
    """A `Storage` on the test's own bucket."""
    return Storage(s3_settings)


# --- webhook receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One programmed answer: `delay_s` waits before the status line, `body_delay_s` between
    the headers and the body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0
    body_delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    received_at: float


class WebhookReceiver:
    """A local HTTP server that records requests and answers from a programmed sequence.

    `respond_with(500, 500, 200)` queues answers (ints or `Reply`); once the queue is empty
    it answers `default` (200).
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default = Reply(200)
        self._replies: list[Reply] = []
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/hooks"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def respond_with(self, *replies: int | Reply) -> None:
        with self._cond:
            self._replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least `n` requests arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = len(self.requests)
                    raise AssertionError(f"expected {n} request(s) within {timeout}s, got {got}")
                self._cond.wait(remaining)
            return list(self.requests)

    def _record(self, request: RecordedRequest) -> Reply:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
            return self._replies.pop(0) if self._replies else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                reply = receiver._record(
                    RecordedRequest(
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        received_at=time.time(),
                    )
                )
                if reply.delay_s and receiver._closing.wait(reply.delay_s):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.flush()
                    if reply.body_delay_s and receiver._closing.wait(reply.body_delay_s):
                        return
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_PUT = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A recording HTTP endpoint on 127.0.0.1; `.url`, `.requests`, `.respond_with`, `.wait_for`."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.close()

"""Pytest plugin: HTTP peers on loopback for webhook tests.

- `webhook_receiver`: an HTTP server that records requests and answers from a programmed
  sequence (`Reply`: status, headers, body, delays).
- `raw_server`: a bare socket server that writes any bytes at any pace (`drip`, `answer`),
  for receivers that misbehave below HTTP: dripped status lines, endless bodies, TLS.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


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

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[RecordedRequest] = []
        self.default = Reply(200)
        self._replies: list[Reply] = []
        self._cond = threading.Condition()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://{host}:{port}/hooks"
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
                    self.close_connection = True  # closing: drop the client, do not wait for
                    return  # its next request on this keep-alive connection
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.flush()
                    if reply.body_delay_s and receiver._closing.wait(reply.body_delay_s):
                        self.close_connection = True
                        return
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_PUT = do_GET = do_POST

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


Respond = Callable[[socket.socket, threading.Event], None]


@dataclass(frozen=True)
class RawRequest:
    line: str
    headers: dict[str, str]  # names lowercased
    body: bytes


def read_request(conn: socket.socket) -> RawRequest:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("client closed before the end of the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for item in fields:
        name, value = item.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawRequest(line, headers, body)


class RawServer:
    """A bare socket server on a loopback address: reads each request, records it, then lets
    `respond(conn, stop)` write any bytes at any pace. Optionally TLS (`ssl_context`)."""

    def __init__(
        self, respond: Respond, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.requests: list[RawRequest] = []
        self.stop = threading.Event()
        self._respond = respond
        self._ssl_context = ssl_context
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen()
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, raw: socket.socket) -> None:
        conn = raw
        try:
            raw.settimeout(5)
            if self._ssl_context is not None:
                conn = self._ssl_context.wrap_socket(raw, server_side=True)
            self.requests.append(read_request(conn))
            self._respond(conn, self.stop)
        except OSError:  # the client gave up, refused our certificate, or we are closing
            pass
        finally:
            conn.close()
            raw.close()

    def close(self) -> None:
        self.stop.set()
        self._sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    """A factory of `RawServer`s, all closed after the test."""
    servers: list[RawServer] = []

    def start(
        respond: Respond, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
    ) -> RawServer:
        server = RawServer(respond, host=host, ssl_context=ssl_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def drip(data: bytes, interval_s: float, *, head: bytes = b"") -> Respond:
    """Send `head` at once, then `data` one byte every `interval_s`."""

    def respond(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for i in range(len(data)):
            if stop.wait(interval_s):
                return
            conn.sendall(data[i : i + 1])

    return respond


def answer(status: int = 200, body: bytes = b"ok") -> Respond:
    def respond(conn: socket.socket, stop: threading.Event) -> None:
        head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        conn.sendall(head + body)

    return respond

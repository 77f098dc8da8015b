"""Standard Webhooks events: body, signature, one attempt's outcome, retry schedule."""

from __future__ import annotations

import json
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.webhooks import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    MAX_RESPONSE_BYTES,
    MAX_RETRY_DELAY_S,
    RETRY_SCHEDULE_S,
    AttemptResult,
    build_event,
    classify_status,
    deliver_once,
    max_total_delay_s,
    new_webhook_id,
    next_retry_delay_s,
    parse_retry_after,
    retry_delay_s,
    sign_headers,
    webhook_id_for,
)
from tests.fixtures_s3 import TEST_WEBHOOK_SECRET, Reply

SECRET = TEST_WEBHOOK_SECRET
NEW_SECRET = "whsec_bmV3LXNlY3JldC1hZnRlci1yb3RhdGlvbi0xMjM0"
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="
STATUS = {
    "job_id": "3f1c2a9e-0b7d-4e5f-9a61-2c8d7e4b5a10",
    "status": "succeeded",
    "finished_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
}


def _deliver(
    url: str,
    *,
    webhook_id: str = "msg_test",
    timeout_s: float = 5.0,
    secrets: tuple[str, ...] = (SECRET,),
    **kwargs,
):
    body = build_event(JOB_SUCCEEDED, STATUS)
    return deliver_once(
        url, webhook_id=webhook_id, body=body, secrets=secrets, timeout_s=timeout_s, **kwargs
    )


class _Midpoint:
    """An rng without jitter."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


# --- event and signature --------------------------------------------------------------------


def test_event_body_is_compact_json_with_type_and_data():
    body = build_event(JOB_FAILED, {"job_id": "j1", "error": {"code": "corrupt_video"}})
    assert body == b'{"type":"job.failed","data":{"job_id":"j1","error":{"code":"corrupt_video"}}}'


def test_event_serializes_aware_datetimes_and_uuids():
    job_id = uuid.uuid4()
    event = json.loads(build_event(JOB_SUCCEEDED, {**STATUS, "job_id": job_id}))
    assert event["data"]["job_id"] == str(job_id)
    assert event["data"]["finished_at"] == "2026-01-02T03:04:05Z"


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError):
        build_event("job.exploded", {})


def test_webhook_ids_are_prefixed_and_unique():
    ids = {new_webhook_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("msg_") and "." not in i for i in ids)


def test_derived_webhook_id_is_stable_per_job_and_event():
    assert webhook_id_for("j1", JOB_SUCCEEDED) == webhook_id_for("j1", JOB_SUCCEEDED)
    assert webhook_id_for("j1", JOB_SUCCEEDED) != webhook_id_for("j1", JOB_FAILED)
    assert webhook_id_for("j1", JOB_SUCCEEDED) != webhook_id_for("j2", JOB_SUCCEEDED)


def test_signed_headers_verify_with_the_standardwebhooks_package():
    body = build_event(JOB_SUCCEEDED, STATUS)
    headers = sign_headers([SECRET], "msg_1", body, datetime.now(timezone.utc))

    assert Webhook(SECRET).verify(body, headers)["type"] == JOB_SUCCEEDED
    assert headers["content-type"] == "application/json"


def test_signature_does_not_verify_for_another_body_or_secret():
    body = build_event(JOB_SUCCEEDED, STATUS)
    headers = sign_headers([SECRET], "msg_1", body, datetime.now(timezone.utc))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(body, headers)


def test_non_utc_timestamps_are_converted_not_relabelled():
    body = build_event(JOB_SUCCEEDED, STATUS)
    now = datetime.now(timezone.utc)
    local = now.astimezone(timezone(timedelta(hours=5, minutes=30)))

    headers = sign_headers([SECRET], "msg_1", body, local)

    assert headers == sign_headers([SECRET], "msg_1", body, now)
    Webhook(SECRET).verify(body, headers)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError):
        sign_headers([SECRET], "msg_1", b"{}", datetime.now())


def test_every_secret_signs_in_the_order_given():
    body = build_event(JOB_SUCCEEDED, STATUS)
    at = datetime.now(timezone.utc)

    headers = sign_headers([NEW_SECRET, SECRET], "msg_1", body, at)

    first, second = headers["webhook-signature"].split(" ")
    assert first == sign_headers([NEW_SECRET], "msg_1", body, at)["webhook-signature"]
    assert second == sign_headers([SECRET], "msg_1", body, at)["webhook-signature"]
    assert first.startswith("v1,") and second.startswith("v1,")


def test_signing_needs_at_least_one_secret_and_not_a_bare_string():
    at = datetime.now(timezone.utc)
    with pytest.raises(ValueError):
        sign_headers([], "msg_1", b"{}", at)
    with pytest.raises(TypeError):
        sign_headers(SECRET, "msg_1", b"{}", at)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        _deliver("http://127.0.0.1:1/hooks", secrets=())


# --- one attempt ----------------------------------------------------------------------------


def test_delivery_is_signed_and_verifies_on_the_receiver(webhook_receiver):
    result = _deliver(webhook_receiver.url, webhook_id="msg_abc")

    (request,) = webhook_receiver.wait_for(1)
    event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["data"]["job_id"] == STATUS["job_id"]
    assert request.headers["webhook-id"] == "msg_abc"
    assert request.body == build_event(JOB_SUCCEEDED, STATUS)
    assert result.outcome == "delivered" and result.status_code == 200
    assert result.latency_ms >= 0


def test_retries_keep_the_webhook_id_and_are_signed_with_fresh_timestamps(webhook_receiver):
    webhook_receiver.respond_with(500, 200)
    first_at = datetime.now(timezone.utc) - timedelta(minutes=2)  # an earlier attempt

    assert _deliver(webhook_receiver.url, webhook_id="msg_same", timestamp=first_at).outcome == (
        "retry"
    )
    assert _deliver(webhook_receiver.url, webhook_id="msg_same").outcome == "delivered"

    first, second = webhook_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "msg_same"
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert first.body == second.body
    for request in (first, second):
        Webhook(SECRET).verify(request.body, request.headers)


def test_a_default_attempt_is_signed_now(webhook_receiver):
    _deliver(webhook_receiver.url)
    (request,) = webhook_receiver.wait_for(1)
    sent_at = int(request.headers["webhook-timestamp"])
    assert abs(sent_at - datetime.now(timezone.utc).timestamp()) < 5


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (204, "delivered"), (410, "give_up"), (500, "retry"), (503, "retry")],
)
def test_outcome_follows_the_status_code(webhook_receiver, status, outcome):
    webhook_receiver.respond_with(status)
    result = _deliver(webhook_receiver.url)
    assert (result.status_code, result.outcome) == (status, outcome)
    assert (result.error is None) == (outcome == "delivered")


def test_redirects_are_not_followed_and_count_as_failures(webhook_receiver):
    webhook_receiver.respond_with(Reply(302, headers={"location": "http://127.0.0.1:1/elsewhere"}))

    result = _deliver(webhook_receiver.url)

    assert (result.status_code, result.outcome) == (302, "retry")
    assert len(webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 408, 409, 425, 429])
def test_client_errors_other_than_410_are_retried(status):
    assert classify_status(status) == "retry"


def test_a_receiver_slower_than_the_timeout_is_retried(webhook_receiver):
    webhook_receiver.respond_with(Reply(200, delay_s=3))

    result = _deliver(webhook_receiver.url, timeout_s=0.3)

    assert result.outcome == "retry"
    assert result.status_code is None
    assert result.error == "timeout: no complete answer within 0.3 s"
    assert result.latency_ms < 2500


def test_a_2xx_whose_body_stalls_still_counts_as_delivered(webhook_receiver):
    webhook_receiver.respond_with(Reply(200, body=b"ok", body_delay_s=3))

    result = _deliver(webhook_receiver.url, timeout_s=0.3)

    assert (result.status_code, result.outcome) == (200, "delivered")


def test_connection_refused_is_retried():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = _deliver(f"http://127.0.0.1:{port}/hooks", timeout_s=2)

    assert (result.status_code, result.outcome) == (None, "retry")
    assert "ConnectError" in result.error


def test_an_unusable_url_is_given_up():
    assert _deliver("ftp://127.0.0.1/hooks").outcome == "give_up"


def test_retry_after_seconds_is_reported_and_honoured(webhook_receiver):
    webhook_receiver.respond_with(Reply(429, headers={"retry-after": "120"}))

    result = _deliver(webhook_receiver.url)

    assert (result.outcome, result.retry_after_s) == ("retry", 120.0)
    assert next_retry_delay_s(result, attempt=1, max_attempts=8) >= 120


def test_retry_after_accepts_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- raw servers: drips, big bodies, IPv6, TLS ---------------------------------------------

Respond = Callable[[socket.socket, threading.Event], None]


@dataclass(frozen=True)
class RawRequest:
    line: str
    headers: dict[str, str]  # names lowercased
    body: bytes


def _read_request(conn: socket.socket) -> RawRequest:
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
            self.requests.append(_read_request(conn))
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


def _drip(data: bytes, interval_s: float, *, head: bytes = b"") -> Respond:
    """Send `head` at once, then `data` one byte every `interval_s`."""

    def respond(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for i in range(len(data)):
            if stop.wait(interval_s):
                return
            conn.sendall(data[i : i + 1])

    return respond


def _answer(status: int = 200, body: bytes = b"ok") -> Respond:
    def respond(conn: socket.socket, stop: threading.Event) -> None:
        head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        conn.sendall(head + body)

    return respond


def _timed(call: Callable[[], AttemptResult]) -> tuple[AttemptResult, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


# --- one deadline per attempt ---------------------------------------------------------------


def test_a_dripped_status_line_cannot_stretch_the_deadline(raw_server):
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = raw_server(_drip(answer, 0.3))

    result, took = _timed(lambda: _deliver(f"http://127.0.0.1:{server.port}/hooks", timeout_s=1.0))

    assert took < 1.5
    assert (result.outcome, result.status_code) == ("retry", None)
    assert result.error == "timeout: no complete answer within 1 s"
    assert 900 <= result.latency_ms < 1500
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "outcome"), [(200, "delivered"), (503, "retry")])
def test_a_dripped_body_cannot_stretch_the_deadline_and_the_status_decides(
    raw_server, status, outcome
):
    head = f"HTTP/1.1 {status} X\r\ncontent-length: 100\r\n\r\n".encode()
    server = raw_server(_drip(b"x" * 100, 0.3, head=head))

    result, took = _timed(lambda: _deliver(f"http://127.0.0.1:{server.port}/hooks", timeout_s=1.0))

    assert took < 1.5
    assert (result.status_code, result.outcome) == (status, outcome)
    assert 1 <= len(result.response_excerpt) < 10  # the bytes that came before the deadline


def test_a_10_mib_answer_is_delivered_quickly_with_a_1_kib_excerpt(raw_server):
    server = raw_server(_answer(200, b"a" * (10 * 1024 * 1024)))

    result, took = _timed(lambda: _deliver(f"http://127.0.0.1:{server.port}/hooks"))

    assert (result.status_code, result.outcome) == (200, "delivered")
    assert result.response_excerpt == "a" * 1024
    assert took < 2


def test_reading_stops_at_the_body_cap(raw_server):
    """An endless body: only the cap, not the deadline, can end this attempt early."""

    def endless(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"b" * 0x4000 + b"\r\n"
        while not stop.is_set():
            conn.sendall(chunk)

    server = raw_server(endless)

    result, took = _timed(lambda: _deliver(f"http://127.0.0.1:{server.port}/", timeout_s=10))

    assert (result.status_code, result.outcome) == (200, "delivered")
    assert result.response_excerpt == "b" * 1024
    assert took < 3
    assert MAX_RESPONSE_BYTES == 64 * 1024


def test_attempts_run_from_several_threads_at_once(webhook_receiver):
    """Each call runs its own event loop, as in Celery threads or prefork children."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: _deliver(webhook_receiver.url), range(8)))

    assert [r.outcome for r in results] == ["delivered"] * 8
    assert len(webhook_receiver.wait_for(8)) == 8


# --- pinning to a checked address -----------------------------------------------------------


def _refuse_dns(monkeypatch) -> list[object]:
    """Make every name lookup fail and record it: a pinned attempt must not make any."""
    lookups: list[object] = []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host.decode() if isinstance(host, bytes) else host)
        raise socket.gaierror(socket.EAI_NONAME, "DNS is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_pinned_attempt_connects_to_the_address_and_keeps_the_host(webhook_receiver, monkeypatch):
    port = int(webhook_receiver.url.rsplit(":", 1)[1].split("/")[0])
    lookups = _refuse_dns(monkeypatch)

    result = _deliver(f"http://hooks.invalid:{port}/x?a=1", address="127.0.0.1")

    assert (result.status_code, result.outcome) == (200, "delivered")
    (request,) = webhook_receiver.wait_for(1)
    assert request.path == "/x?a=1"
    assert request.headers["host"] == f"hooks.invalid:{port}"
    Webhook(SECRET).verify(request.body, request.headers)
    assert lookups == []


def test_without_an_address_the_name_is_resolved(monkeypatch):
    lookups = _refuse_dns(monkeypatch)

    result = _deliver("http://hooks.invalid:8080/x", timeout_s=2)

    assert (result.status_code, result.outcome) == (None, "retry")
    assert "ConnectError" in result.error
    assert lookups == ["hooks.invalid"]


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_a_pinned_attempt_connects_to_an_ipv6_address(raw_server, monkeypatch):
    server = raw_server(_answer(204, b""), host="::1")
    lookups = _refuse_dns(monkeypatch)

    result = _deliver(f"http://hooks.invalid:{server.port}/v6", address="::1")

    assert (result.status_code, result.outcome) == (204, "delivered")
    (request,) = server.requests
    assert request.line == "POST /v6 HTTP/1.1"
    assert request.headers["host"] == f"hooks.invalid:{server.port}"
    assert lookups == []


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host", "sni"),
    [
        ("https://hooks.test/x", "192.0.2.7", "https://192.0.2.7/x", "hooks.test", "hooks.test"),
        (
            "https://hooks.test:8443/",
            "2001:db8::7",
            "https://[2001:db8::7]:8443/",
            "hooks.test:8443",
            "hooks.test",
        ),
        ("http://hooks.test:80/", "192.0.2.7", "http://192.0.2.7/", "hooks.test", None),
    ],
)
def test_the_pinned_request_names_the_address_the_host_and_the_sni(
    url, address, sent_to, host, sni
):
    """What reaches the transport (no socket: the addresses are documentation ranges)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    result = _deliver(url, address=address, transport=httpx.MockTransport(handler))

    assert result.outcome == "delivered"
    (request,) = seen
    assert str(request.url) == sent_to
    assert request.headers["host"] == host  # the port only when it is not the default
    assert request.extensions.get("sni_hostname") == sni


def test_pinning_refuses_an_address_that_is_not_an_ip():
    with pytest.raises(ValueError):
        _deliver("http://hooks.invalid/x", address="hooks.invalid")


# --- https pinning: SNI and certificate check use the name ----------------------------------


def _certificates(tmp_path: Path, name: str) -> tuple[bytes, Path, Path]:
    """A throwaway CA and a leaf certificate for `name`: (CA PEM, leaf cert file, key file)."""
    x509 = pytest.importorskip(
        "cryptography.x509", reason="`cryptography` is not installed: cannot make test certs"
    )
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(timezone.utc)

    def build(subject, issuer, public_key, signing_key, issuer_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("test CA", "test CA", ca_key.public_key(), ca_key, ca_key.public_key(), ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(name, "test CA", leaf_key.public_key(), ca_key, ca_key.public_key(), ca=False)

    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_cert.public_bytes(serialization.Encoding.PEM), cert_file, key_file


def _tls_server(raw_server, tmp_path: Path, cert_name: str) -> tuple[RawServer, bytes, list]:
    ca_pem, cert_file, key_file = _certificates(tmp_path, cert_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server_names: list[str | None] = []
    context.sni_callback = lambda sslobj, name, ctx: server_names.append(name)
    return raw_server(_answer(200, b"tls ok"), ssl_context=context), ca_pem, server_names


def test_a_pinned_https_attempt_verifies_the_name_not_the_address(
    raw_server, tmp_path, monkeypatch
):
    server, ca_pem, server_names = _tls_server(raw_server, tmp_path, "hooks.test")
    trust = ssl.create_default_context(cadata=ca_pem.decode())
    lookups = _refuse_dns(monkeypatch)

    result = _deliver(f"https://hooks.test:{server.port}/", address="127.0.0.1", verify=trust)

    assert (result.status_code, result.outcome) == (200, "delivered")
    assert result.response_excerpt == "tls ok"
    assert server_names == ["hooks.test"]
    (request,) = server.requests
    assert request.headers["host"] == f"hooks.test:{server.port}"
    Webhook(SECRET).verify(request.body, request.headers)
    assert lookups == []


def test_a_pinned_https_attempt_refuses_a_certificate_for_another_name(raw_server, tmp_path):
    server, ca_pem, server_names = _tls_server(raw_server, tmp_path, "other.test")
    trust = ssl.create_default_context(cadata=ca_pem.decode())

    result = _deliver(f"https://hooks.test:{server.port}/", address="127.0.0.1", verify=trust)

    assert (result.status_code, result.outcome) == (None, "retry")
    assert "ConnectError" in result.error and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server_names == ["hooks.test"]
    assert server.requests == []


# --- secret rotation ------------------------------------------------------------------------


def test_during_a_rotation_both_secrets_verify_the_delivered_request(webhook_receiver):
    result = _deliver(webhook_receiver.url, secrets=(NEW_SECRET, SECRET))

    assert result.outcome == "delivered"
    (request,) = webhook_receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(sig.startswith("v1,") for sig in signatures)
    for secret in (NEW_SECRET, SECRET):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == JOB_SUCCEEDED
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(request.body, request.headers)


# --- retry schedule -------------------------------------------------------------------------


def test_schedule_follows_standard_webhooks_without_jitter():
    delays = [retry_delay_s(n, rng=_Midpoint()) for n in range(1, 9)]
    assert delays == pytest.approx([5, 300, 1800, 7200, 18000, 36000, 36000, 36000])


@pytest.mark.parametrize("attempt", range(1, 10))
def test_jitter_stays_within_20_percent(attempt):
    base = RETRY_SCHEDULE_S[min(attempt, len(RETRY_SCHEDULE_S)) - 1]
    rng = random.Random(attempt)
    delays = [retry_delay_s(attempt, rng=rng) for _ in range(200)]
    assert all(0.8 * base <= d <= 1.2 * base for d in delays)
    assert len(set(delays)) > 1


def test_retry_after_raises_the_delay_but_never_past_12_hours():
    assert retry_delay_s(1, retry_after_s=600, rng=_Midpoint()) == 600
    assert retry_delay_s(3, retry_after_s=10, rng=_Midpoint()) == pytest.approx(1800)
    assert retry_delay_s(1, retry_after_s=3 * 86400, rng=_Midpoint()) == MAX_RETRY_DELAY_S


def test_no_retry_after_delivery_give_up_or_the_last_attempt():
    retry = AttemptResult(outcome="retry", status_code=500, latency_ms=1)
    assert next_retry_delay_s(retry, attempt=1, max_attempts=3) is not None
    assert next_retry_delay_s(retry, attempt=3, max_attempts=3) is None
    for outcome in ("delivered", "give_up"):
        done = AttemptResult(outcome=outcome, status_code=200, latency_ms=1)
        assert next_retry_delay_s(done, attempt=1, max_attempts=3) is None


def test_the_whole_schedule_is_bounded_by_max_attempts():
    assert max_total_delay_s(1) == 0
    assert max_total_delay_s(3) == pytest.approx(1.2 * (5 + 300))
    rng = random.Random(7)
    result = AttemptResult(outcome="retry", status_code=500, latency_ms=1)
    waited, attempt = 0.0, 1
    while (delay := next_retry_delay_s(result, attempt, max_attempts=8, rng=rng)) is not None:
        waited += delay
        attempt += 1
    assert attempt == 8
    assert waited <= max_total_delay_s(8)

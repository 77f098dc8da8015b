"""One webhook attempt over real sockets (`shared.webhooks.delivery.deliver_once`): one deadline for
the whole exchange, a capped read, pinning to a checked address (http and https)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from shared.webhooks.delivery import MAX_RESPONSE_BYTES, AttemptResult
from tests.fixtures_http import RawServer, answer, drip
from tests.webhook_samples import SECRET, deliver


def _timed(call: Callable[[], AttemptResult]) -> tuple[AttemptResult, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


# --- one deadline per attempt ---------------------------------------------------------------


def test_a_dripped_status_line_cannot_stretch_the_deadline(raw_server):
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    server = raw_server(drip(reply, 0.3))

    result, took = _timed(lambda: deliver(f"http://127.0.0.1:{server.port}/hooks", timeout_s=1.0))

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
    server = raw_server(drip(b"x" * 100, 0.3, head=head))

    result, took = _timed(lambda: deliver(f"http://127.0.0.1:{server.port}/hooks", timeout_s=1.0))

    assert took < 1.5
    assert (result.status_code, result.outcome) == (status, outcome)
    assert 1 <= len(result.response_excerpt) < 10  # the bytes that came before the deadline


def test_a_10_mib_answer_is_delivered_quickly_with_a_1_kib_excerpt(raw_server):
    server = raw_server(answer(200, b"a" * (10 * 1024 * 1024)))

    result, took = _timed(lambda: deliver(f"http://127.0.0.1:{server.port}/hooks"))

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

    result, took = _timed(lambda: deliver(f"http://127.0.0.1:{server.port}/", timeout_s=10))

    assert (result.status_code, result.outcome) == (200, "delivered")
    assert result.response_excerpt == "b" * 1024
    assert took < 3
    assert MAX_RESPONSE_BYTES == 64 * 1024


def test_attempts_run_from_several_threads_at_once(webhook_receiver):
    """Each call runs its own event loop, as in Celery threads or prefork children."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: deliver(webhook_receiver.url), range(8)))

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

    result = deliver(f"http://hooks.invalid:{port}/x?a=1", address="127.0.0.1")

    assert (result.status_code, result.outcome) == (200, "delivered")
    (request,) = webhook_receiver.wait_for(1)
    assert request.path == "/x?a=1"
    assert request.headers["host"] == f"hooks.invalid:{port}"
    Webhook(SECRET).verify(request.body, request.headers)
    assert lookups == []


def test_without_an_address_the_name_is_resolved(monkeypatch):
    lookups = _refuse_dns(monkeypatch)

    result = deliver("http://hooks.invalid:8080/x", timeout_s=2)

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
    server = raw_server(answer(204, b""), host="::1")
    lookups = _refuse_dns(monkeypatch)

    result = deliver(f"http://hooks.invalid:{server.port}/v6", address="::1")

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

    result = deliver(url, address=address, transport=httpx.MockTransport(handler))

    assert result.outcome == "delivered"
    (request,) = seen
    assert str(request.url) == sent_to
    assert request.headers["host"] == host  # the port only when it is not the default
    assert request.extensions.get("sni_hostname") == sni


def test_pinning_refuses_an_address_that_is_not_an_ip():
    with pytest.raises(ValueError):
        deliver("http://hooks.invalid/x", address="hooks.invalid")


# --- https pinning: SNI and certificate check use the name ----------------------------------


def _certificates(tmp_path: Path, name: str) -> tuple[bytes, Path, Path]:
    """A throwaway CA and a leaf certificate for `name`: (CA PEM, leaf cert file, key file)."""
    x509 = pytest.importorskip(
        "cryptography.x509", reason="`cryptography` is not installed: cannot make test certs"
    )
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

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
    return raw_server(answer(200, b"tls ok"), ssl_context=context), ca_pem, server_names


def test_a_pinned_https_attempt_verifies_the_name_not_the_address(
    raw_server, tmp_path, monkeypatch
):
    server, ca_pem, server_names = _tls_server(raw_server, tmp_path, "hooks.test")
    trust = ssl.create_default_context(cadata=ca_pem.decode())
    lookups = _refuse_dns(monkeypatch)

    result = deliver(f"https://hooks.test:{server.port}/", address="127.0.0.1", verify=trust)

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

    result = deliver(f"https://hooks.test:{server.port}/", address="127.0.0.1", verify=trust)

    assert (result.status_code, result.outcome) == (None, "retry")
    assert "ConnectError" in result.error and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server_names == ["hooks.test"]
    assert server.requests == []

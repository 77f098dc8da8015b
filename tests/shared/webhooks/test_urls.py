"""SSRF protection of webhook URLs: syntax, refused names, refused addresses, exemptions."""

from __future__ import annotations

import socket
import threading
import time
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from shared.webhooks.urls import (
    INVALID,
    NOT_ALLOWED,
    WEBHOOK_URL_MAX_CHARS,
    HostPolicy,
    WebhookURL,
    WebhookURLError,
    check_webhook_url,
    forbidden_name_reason,
    forbidden_reason,
    parse_webhook_url,
    resolve_host,
)

PUBLIC_V4 = "93.184.215.14"


def fake_resolver(*addresses: str):
    """A resolver answering every name with `addresses`, recording what it was asked."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[IPv4Address | IPv6Address]:
        calls.append((host, port))
        return [ip_address(a) for a in addresses]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def refusal(raw: str, policy: HostPolicy | None = None, **kwargs) -> WebhookURLError:
    with pytest.raises(WebhookURLError) as info:
        check_webhook_url(raw, policy or HostPolicy(), **kwargs)
    return info.value


REFUSED_TARGETS = [
    "http://127.0.0.1:8000/x",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal/",
    "http://metadata/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
]


@pytest.mark.parametrize("raw", REFUSED_TARGETS)
def test_internal_targets_and_their_disguises_are_not_allowed(raw):
    error = refusal(raw)  # the real resolver: all are IP literals or names refused unresolved
    assert error.code == NOT_ALLOWED
    assert error.message


INVALID_URLS = [
    "ftp://example.com/",
    "javascript:alert(1)",
    "/relative",
    "http:///nohost",
    "http://user:secret@example.com/",
    "http://user@example.com/",
    "http://@example.com/",
    "http://example.com/" + "a" * (WEBHOOK_URL_MAX_CHARS - len("http://example.com/") + 1),
    "http://exa mple.com/",
    "http://example.com/\n",
    "http://example.com:99999/",
    "http://example.com:abc/",
    "http://[fe80::1%25eth0]/",
]


@pytest.mark.parametrize("raw", INVALID_URLS, ids=lambda raw: raw[:40])
def test_malformed_or_unsupported_urls_are_invalid(raw):
    assert refusal(raw, resolve=fake_resolver(PUBLIC_V4)).code == INVALID


def test_the_invalid_long_url_is_one_character_over_the_limit():
    assert len(INVALID_URLS[7]) == WEBHOOK_URL_MAX_CHARS + 1
    parse_webhook_url(INVALID_URLS[7][:-1])  # exactly at the limit: fine


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("http://93.184.215.14/hook", "93.184.215.14"),
        ("https://[2606:4700::1111]/h", "2606:4700::1111"),
        ("http://[::ffff:93.184.215.14]/", "::ffff:93.184.215.14"),
        ("http://[2002:5db8:d70e::1]/", "2002:5db8:d70e::1"),
    ],
)
def test_public_addresses_pass_and_are_pinned(raw, address):
    target = check_webhook_url(raw)
    assert target.address == ip_address(address)
    assert target.url.url == raw


def test_a_decimal_spelling_of_loopback_is_refused_as_loopback():
    assert refusal("http://2130706433/").message == "webhook_url resolves to 127.0.0.1 (loopback)"


def test_an_ipv6_form_embedding_ipv4_is_reported_by_its_ipv4_category():
    assert forbidden_reason(ip_address("::ffff:127.0.0.1")) == "IPv4-mapped loopback"
    assert forbidden_reason(ip_address("64:ff9b::a9fe:a9fe")) == "NAT64 link-local"
    assert forbidden_reason(ip_address("2002:0a00:0001::")) == "6to4 private"


def test_teredo_is_refused_outright():
    assert forbidden_reason(ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2")) == "Teredo"


def test_the_categories_are_named():
    assert forbidden_reason(ip_address("100.64.0.1")) == "carrier-grade NAT"
    assert forbidden_reason(ip_address("198.18.0.1")) == "benchmarking"
    assert forbidden_reason(ip_address("fec0::1")) == "site-local"
    assert forbidden_reason(ip_address("192.0.0.8")) is not None
    assert forbidden_reason(ip_address(PUBLIC_V4)) is None


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "api.localhost",
        "db.internal",
        "printer.local",
        "nas.home.arpa",
        "wiki.corp",
        "router.lan",
        "metadata",
        "intranet-server",
        "Metadata.Google.Internal.",
    ],
)
def test_local_and_single_label_names_are_refused_without_resolving(host):
    assert forbidden_name_reason(host) is not None


@pytest.mark.parametrize("host", ["example.com", "hooks.example.org.", "127.0.0.1", "::1", "127.1"])
def test_ordinary_dotted_names_and_ip_literals_are_not_refused_by_name(host):
    assert forbidden_name_reason(host) is None


def test_a_refused_name_is_not_even_resolved():
    resolve = fake_resolver(PUBLIC_V4)
    assert refusal("http://db.internal/", resolve=resolve).code == NOT_ALLOWED
    assert resolve.calls == []


def test_a_name_with_any_private_address_is_refused():
    error = refusal("https://hooks.example.com/", resolve=fake_resolver(PUBLIC_V4, "10.0.0.5"))
    assert error.code == NOT_ALLOWED
    assert error.message == "webhook_url resolves to 10.0.0.5 (private)"


def test_a_name_with_a_public_address_is_pinned_to_it():
    resolve = fake_resolver(PUBLIC_V4)
    target = check_webhook_url("https://hooks.example.com:8443/x", resolve=resolve)
    assert target.address == IPv4Address(PUBLIC_V4)
    assert target.url == WebhookURL(
        url="https://hooks.example.com:8443/x", scheme="https", host="hooks.example.com", port=8443
    )
    assert resolve.calls == [("hooks.example.com", 8443)]


def test_an_allowed_ip_lets_that_ip_through():
    policy = HostPolicy.from_entries(["127.0.0.1"])
    assert check_webhook_url("http://127.0.0.1:9/", policy).address == IPv4Address("127.0.0.1")
    assert refusal("http://127.0.0.2:9/", policy).code == NOT_ALLOWED


def test_an_allowed_network_lets_a_name_resolving_inside_it_through():
    policy = HostPolicy.from_entries(["10.0.0.0/8"])
    resolve = fake_resolver("10.1.2.3")
    target = check_webhook_url("http://hooks.example.com/", policy, resolve=resolve)
    assert target.address == IPv4Address("10.1.2.3")


def test_an_allowed_name_skips_the_checks_and_is_pinned_to_its_first_address():
    policy = HostPolicy.from_entries(["hooks.test"])
    target = check_webhook_url("http://hooks.test/", policy, resolve=fake_resolver("127.0.0.1"))
    assert target.address == IPv4Address("127.0.0.1")
    assert refusal("http://other.test/", policy, resolve=fake_resolver("127.0.0.1")).code == (
        NOT_ALLOWED
    )


def test_an_allowed_single_label_name_is_exempt_from_the_name_rules():
    policy = HostPolicy.from_entries(["receiver"])
    target = check_webhook_url("http://receiver:8080/", policy, resolve=fake_resolver("10.0.0.9"))
    assert target.address == IPv4Address("10.0.0.9")


@pytest.mark.parametrize("entry", ["exa mple", "10.0.0.0/33", "10.0.0.1/8", "http://x/", "a..b"])
def test_a_garbage_policy_entry_raises_naming_it(entry):
    with pytest.raises(ValueError, match="allowed host") as info:
        HostPolicy.from_entries(["ok.example", entry])
    assert repr(entry) in str(info.value)


def test_policy_entries_accept_brackets_blanks_and_any_case():
    policy = HostPolicy.from_entries(["[::1]", " ", "Example.COM"])
    assert policy.names == frozenset({"example.com"})
    assert policy.allows_address(IPv6Address("::1"))
    assert policy.allows_name("EXAMPLE.com.")
    assert not policy.allows_address(IPv4Address("127.0.0.1"))


def test_legacy_numeric_ipv4_spellings_resolve_without_dns():
    for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1"):
        assert resolve_host(host, 80) == [IPv4Address("127.0.0.1")]


def test_a_name_that_does_not_resolve_is_invalid():
    with pytest.raises(WebhookURLError) as info:
        resolve_host("no-such-host.invalid", 443, timeout_s=3)
    assert info.value.code == INVALID


def test_a_hanging_resolver_is_given_up_after_the_timeout(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    started = time.monotonic()
    try:
        with pytest.raises(WebhookURLError, match="within 0.3 s") as info:
            resolve_host("slow.example.com", 443, timeout_s=0.3)
    finally:
        release.set()
    assert info.value.code == INVALID
    assert time.monotonic() - started < 2


def test_resolved_addresses_are_deduplicated_in_resolver_order(monkeypatch):
    def answers(host, port, *args, **kwargs):
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, port))
        v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1111", port, 0, 0))
        return [v6, v4, v6, v4]

    monkeypatch.setattr(socket, "getaddrinfo", answers)
    assert resolve_host("hooks.example.com", 443) == [
        IPv6Address("2606:4700::1111"),
        IPv4Address(PUBLIC_V4),
    ]


@pytest.mark.parametrize(
    ("url", "header"),
    [
        (WebhookURL("http://example.com/", "http", "example.com", 80), "example.com"),
        (WebhookURL("http://example.com:8080/", "http", "example.com", 8080), "example.com:8080"),
        (WebhookURL("https://example.com/", "https", "example.com", 443), "example.com"),
        (WebhookURL("http://example.com:443/", "http", "example.com", 443), "example.com:443"),
        (
            WebhookURL("https://[2606:4700::1111]:8443/", "https", "2606:4700::1111", 8443),
            "[2606:4700::1111]:8443",
        ),
    ],
)
def test_the_host_header_carries_the_port_only_when_it_is_not_the_default(url, header):
    assert url.host_header() == header


def test_parsing_lowercases_scheme_and_host_and_strips_ipv6_brackets():
    assert parse_webhook_url("HTTPS://Hooks.Example.COM/Path?Q=1") == WebhookURL(
        "HTTPS://Hooks.Example.COM/Path?Q=1", "https", "hooks.example.com", 443
    )
    assert parse_webhook_url("http://[2606:4700::AB]:81/").host == "2606:4700::ab"

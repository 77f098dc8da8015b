"""Which webhook URLs may be called: protection against server-side request forgery (SSRF).

A tenant chooses the webhook URL and the worker calls it from inside our network. Without
checks, `http://169.254.169.254/latest/meta-data` (cloud credentials), `http://localhost:6379`
(Redis), `http://10.0.0.5/admin` and their many disguises (`http://2130706433/`,
`http://[::ffff:127.0.0.1]/`, a DNS name pointing at a private address) turn the webhook into
a way to reach internal services.

A URL is checked twice:
- at submission (`check_webhook_url` in the API), so a bad URL is refused with a clear error;
- again at delivery (in the worker), because DNS may have changed since. The caller then
  connects to `PinnedTarget.address`, the very address that was checked, with no second DNS
  lookup, so a name re-pointed in between (DNS rebinding) changes nothing.

An address is refused when ANY address the name resolves to is not publicly routable. IPv6
forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that IPv4
address. The operator may exempt names, IPs and networks (`HostPolicy`, WEBHOOK_ALLOWED_HOSTS).
Standard library only: no project imports.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any
from urllib.parse import urlsplit

WEBHOOK_URL_MAX_CHARS = 2048
INVALID = "invalid_webhook_url"
NOT_ALLOWED = "webhook_url_not_allowed"

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], "list[IPAddress]"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME_RE = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\.?")
_NUMERIC_V4_RE = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)  # what inet_aton may read as IPv4
_INTERNAL_SUFFIXES = (
    ".internal",
    ".local",
    ".localdomain",
    ".home.arpa",
    ".intranet",
    ".lan",
    ".corp",
)


class WebhookURLError(ValueError):
    """A webhook URL refused; `code` is INVALID or NOT_ALLOWED, `message` says why for humans."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class UnresolvableHost(WebhookURLError):
    """The host does not resolve (now): unlike other refusals, this one may pass later."""

    def __init__(self, message: str):
        super().__init__(INVALID, message)


@dataclass(frozen=True)
class WebhookURL:
    """A syntactically valid webhook URL, split into what a connection needs."""

    url: str
    scheme: str
    host: str
    port: int

    def host_header(self) -> str:
        """The `Host` header: host, with `:port` unless the port is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _invalid(message: str) -> WebhookURLError:
    return WebhookURLError(INVALID, message)


def _to_ascii(name: str) -> str | None:
    """`name` as DNS sees it (IDNA, Unicode dots mapped to '.'), lowercased; None if unencodable."""
    try:
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def parse_webhook_url(raw: str) -> WebhookURL:
    """Syntax only, no network; raises WebhookURLError(INVALID, ...) for anything unclear."""
    if len(raw) > WEBHOOK_URL_MAX_CHARS:
        raise _invalid(f"webhook_url is longer than {WEBHOOK_URL_MAX_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise _invalid("webhook_url contains whitespace or control characters")
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise _invalid(f"webhook_url is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not raw.lower().startswith(f"{scheme}://"):
        raise _invalid("webhook_url must be an absolute http or https URL")
    netloc = parts.netloc
    if "@" in netloc:
        raise _invalid("webhook_url must not contain user info ('user:password@')")
    if netloc.startswith("["):
        end = netloc.find("]")
        host, port_text = netloc[1:end], netloc[end + 1 :]
        if "%" in host:
            raise _invalid("webhook_url must not contain an IPv6 zone id")
        try:
            IPv6Address(host)
        except ValueError:
            raise _invalid(f"webhook_url host [{host}] is not an IPv6 address") from None
        host = host.lower()
        if port_text and not port_text.startswith(":"):
            raise _invalid("webhook_url has a malformed host")
    else:
        host, colon, after_colon = netloc.partition(":")
        port_text = colon + after_colon
        host = host.lower()
        ascii_host = _to_ascii(host)
        if host and (ascii_host is None or not _NAME_RE.fullmatch(ascii_host)):
            raise _invalid(f"webhook_url host {host!r} is malformed")
    if not host:
        raise _invalid("webhook_url has no host")
    port = _DEFAULT_PORTS[scheme]
    if port_text:
        digits = port_text[1:]
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 5):
            raise _invalid(f"webhook_url port {digits!r} is malformed")
        port = int(digits)
        if not 1 <= port <= 65535:
            raise _invalid(f"webhook_url port {port} is outside 1..65535")
    return WebhookURL(url=raw, scheme=scheme, host=host, port=port)


def _parse_ip_literal(host: str) -> IPAddress | None:
    """`host` as an IP address (also the legacy IPv4 spellings inet_aton reads), else None."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.removesuffix(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_V4_RE.fullmatch(host):  # "2130706433", "0x7f000001", "0177.0.0.1", "127.1"
        try:
            return IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class HostPolicy:
    """Exemptions from the address checks (operator's WEBHOOK_ALLOWED_HOSTS)."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> HostPolicy:
        """Host names, IPs (brackets allowed) and CIDRs; blank entries are ignored.

        Raises ValueError naming the first entry that is none of these.
        """
        names: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            if "/" in text:
                try:
                    networks.append(ipaddress.ip_network(text))
                except ValueError as exc:
                    raise ValueError(f"allowed host {entry!r} is not a valid CIDR: {exc}") from None
                continue
            address = _parse_ip_literal(text) if "%" not in text else None
            if address is not None:
                networks.append(ipaddress.ip_network(address))
                continue
            name = _to_ascii(text)
            if name is None or not _NAME_RE.fullmatch(name):
                raise ValueError(f"allowed host {entry!r} is not a host name, IP or CIDR")
            names.add(name.removesuffix("."))
        return cls(names=frozenset(names), networks=tuple(networks))

    def allows_name(self, host: str) -> bool:
        """True when `host` (any case, trailing dot or not) is an exempted name."""
        return (_to_ascii(host) or "").removesuffix(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        """True when `address` lies in an exempted IP or network."""
        return any(address in network for network in self.networks)


_V4_REASONS: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/32", "unspecified"),
        ("0.0.0.0/8", "reserved"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_REASONS: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(cidr), reason)
    for cidr, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_V4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    """(kind, IPv4 address) for IPv6 forms that carry an IPv4 address, else None."""
    low32 = IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in _V4_COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        return "IPv4-compatible", low32
    if address in _NAT64:
        return "NAT64", low32
    if address in _NAT64_LOCAL:
        return "NAT64 local-use", low32
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """None when `address` is publicly routable, else a short reason such as "loopback"."""
    if isinstance(address, IPv6Address):
        if address in _NAT64_LOCAL and (int(address) >> 32) & (2**48 - 1):
            # Only the /96 layout (64:ff9b:1::a.b.c.d) is understood: in the other RFC 6052
            # layouts the IPv4 address sits elsewhere and could not be judged reliably.
            return "NAT64 local-use, not the /96 layout"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind, ipv4 = embedded
            reason = forbidden_reason(ipv4)
            return f"{kind} {reason}" if reason else None
        table: tuple[tuple[IPv4Network | IPv6Network, str], ...] = _V6_REASONS
    else:
        table = _V4_REASONS
    for network, reason in table:
        if address in network:
            return reason
    # Python's own categories as a backstop; their exact ranges vary between versions.
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("site-local", getattr(address, "is_site_local", False)),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)


def forbidden_name_reason(host: str) -> str | None:
    """Why the name `host` is refused without resolving it, or None (also for IP literals)."""
    if _parse_ip_literal(host) is not None:
        return None
    name = (_to_ascii(host) or host.lower()).removesuffix(".")
    if _parse_ip_literal(name) is not None:
        return None
    if name == "localhost" or name.endswith(".localhost"):
        return "localhost"
    for suffix in _INTERNAL_SUFFIXES:
        if name.endswith(suffix):
            return f"internal domain {suffix}"
    if "." not in name:
        return "single-label name, completed by the resolver's search domains"
    return None


def _getaddrinfo(host: str, port: int, timeout_s: float) -> list[tuple]:
    """socket.getaddrinfo in a daemon thread, abandoned after `timeout_s`."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:  # gaierror; UnicodeError for bad IDNA
            box["error"] = exc

    thread = threading.Thread(target=work, name="netguard-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise UnresolvableHost(f"webhook_url host {host!r} does not resolve within {timeout_s:g} s")
    if "error" in box:
        raise UnresolvableHost(f"webhook_url host {host!r} does not resolve ({box['error']})")
    return box["result"]


def resolve_host(host: str, port: int, *, timeout_s: float = 5.0) -> list[IPAddress]:
    """All addresses `host` resolves to, de-duplicated, in resolver order; IP literals need
    no DNS. Raises WebhookURLError(INVALID) when the name does not resolve (in time)."""
    literal = _parse_ip_literal(host)
    if literal is not None:
        return [literal]
    addresses: dict[IPAddress, None] = {}
    for family, _type, _proto, _canon, sockaddr in _getaddrinfo(host, port, timeout_s):
        if family in (socket.AF_INET, socket.AF_INET6):
            addresses[ipaddress.ip_address(sockaddr[0])] = None
    if not addresses:
        raise UnresolvableHost(f"webhook_url host {host!r} does not resolve")
    return list(addresses)


@dataclass(frozen=True)
class PinnedTarget:
    """A checked URL and the checked address to connect to (no second DNS lookup)."""

    url: WebhookURL
    address: IPAddress


def check_webhook_url(
    raw: str,
    policy: HostPolicy = HostPolicy(),
    *,
    resolve: Resolver | None = None,
    timeout_s: float = 5.0,
) -> PinnedTarget:
    """Parse, resolve and check `raw`; return it pinned to its first resolved address.

    Raises WebhookURLError: INVALID for syntax or resolution failures, NOT_ALLOWED for a
    refused name or when ANY resolved address is forbidden and not exempted by `policy`.
    A name exempted by `policy` skips the name and address checks.
    """
    url = parse_webhook_url(raw)
    if resolve is None:

        def resolve(host: str, port: int) -> list[IPAddress]:
            return resolve_host(host, port, timeout_s=timeout_s)

    exempt = policy.allows_name(url.host)
    reason = None if exempt else forbidden_name_reason(url.host)
    if reason is not None:
        message = f"webhook_url host {url.host!r} is not allowed ({reason})"
        raise WebhookURLError(NOT_ALLOWED, message)
    addresses = resolve(url.host, url.port)
    if not addresses:
        raise UnresolvableHost(f"webhook_url host {url.host!r} does not resolve")
    if not exempt:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None and not policy.allows_address(address):
                raise WebhookURLError(NOT_ALLOWED, f"webhook_url resolves to {address} ({reason})")
    return PinnedTarget(url=url, address=addresses[0])

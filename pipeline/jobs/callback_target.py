"""Where a callback may go: an https URL whose every address is public, reached at the
very address that was checked.

A manifest names the URL, so without a guard anyone who can upload a manifest could make
reelpipe's machines call their own loopback services, the private network or a cloud
metadata endpoint (SSRF). The host is resolved once, every address it resolves to must
be public, and the connection goes to the checked address (the name is kept for TLS and
the ``Host`` header), so a DNS answer that changes between check and use (rebinding)
gains nothing. Redirects are not followed.

An IPv6 address that carries an IPv4 one (6to4 ``2002::/16``, Teredo ``2001::/32`` whose
client is stored XOR-ed, NAT64 ``64:ff9b::/96``, the old IPv4-compatible ``::a.b.c.d``) is
judged by the IPv4 address inside too: a relay or gateway would deliver it there, so
``[2002:7f00:1::]`` is loopback, not public. Such a wrapped loopback is not the machine's own
loopback either, so only ``yes`` allows it.

``allow``: ``no`` (production), ``loopback`` (``reelpipe serve`` on a laptop: loopback
targets over http or https), ``yes`` (any private address, http too; for local networks).
``refused_ports`` are refused whatever ``allow`` says and at any address: ``serve`` passes
its own (the embedded S3 endpoint, the webhook and operator API), so a manifest cannot make
reelpipe call itself.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pipeline.core.errors import ReelpipeError

PrivateTargets = Literal["no", "loopback", "yes"]
# Not public, though ``ipaddress`` does not call every one of them private.
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291)


class CallbackRefused(ReelpipeError):
    """The callback URL is not one reelpipe may call."""


@dataclass(frozen=True)
class CallbackTarget:
    """A checked URL: its scheme, host name, port, path, and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _wrapped_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 one carries, and how (None: it carries none)."""
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"  # the client, un-XOR-ed by ``ipaddress``
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: or ::1, which are themselves
        return ipaddress.IPv4Address(int(ip)), "IPv4-compatible"
    return None


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is not public (None: it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # a dual-stack socket reaches the IPv4 address itself
            return _kind(ip.ipv4_mapped)
        wrapped = _wrapped_ipv4(ip)
        inner = _kind(wrapped[0]) if wrapped else None
        if wrapped and inner:  # never plain "loopback": only allow="yes" lets it through
            return f"{inner.split(' ')[0]} ({wrapped[1]} of {wrapped[0]})"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives there)"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "reserved"
    return None


def _resolve(host: str, port: int, timeout_s: float) -> list[str]:
    """The addresses of ``host``, resolved within ``timeout_s`` (the resolver has no timeout
    of its own: it runs in a daemon thread that is left behind when it hangs); OSError
    when it does not resolve."""
    found: list[str] = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.extend(str(info[4][0]) for info in infos)
        except (OSError, UnicodeError) as exc:
            failure.append(exc)

    worker = threading.Thread(target=lookup, name="callback-dns", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():  # DNS trouble may pass: an OSError is retried, a refusal is not
        raise TimeoutError(f"callback host {host!r} did not resolve within {timeout_s:g} s")
    if failure or not found:
        raise OSError(f"callback host {host!r} does not resolve: {failure[:1]}")
    return found


def check_target(
    url: str,
    *,
    allow: PrivateTargets = "no",
    refused_ports: frozenset[int] = frozenset(),
    timeout_s: float = 10.0,
) -> CallbackTarget:
    """The target of ``url`` if reelpipe may call it; CallbackRefused saying why not.

    Example::

        check_target("https://hooks.example.com/reelpipe")          # public: passes
        check_target("http://127.0.0.1:9001/v1/x", allow="yes", refused_ports={9001})
        # CallbackRefused: port 9001 is reelpipe's own
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("https", "http") or not host:
        raise CallbackRefused(f"callback URL {url[:80]!r}: only https:// URLs are called")
    if parts.username or parts.password:
        raise CallbackRefused("callback URL: credentials in the URL are not sent; sign instead")
    try:
        given = parts.port
    except ValueError:
        raise CallbackRefused(f"callback URL {url[:80]!r}: bad port") from None
    port = given if given is not None else (443 if scheme == "https" else 80)
    if not 1 <= port <= 65535:  # an explicit :0 must not fall back to the default port
        raise CallbackRefused(f"callback URL {url[:80]!r}: port {port} is not 1-65535")
    if port in refused_ports:
        raise CallbackRefused(
            f"callback URL {url[:80]!r}: port {port} is one of reelpipe's own (its S3 "
            "endpoint, webhook or operator API); callbacks never go there"
        )
    addresses = _resolve(host, port, timeout_s)
    kinds = {a: _kind(ipaddress.ip_address(a.split("%")[0])) for a in addresses}
    private = {a: k for a, k in kinds.items() if k is not None}
    if private:
        loopback_only = all(k == "loopback" for k in private.values())
        allowed = allow == "yes" or (allow == "loopback" and loopback_only)
        if not allowed:
            address, kind = next(iter(private.items()))
            raise CallbackRefused(
                f"callback host {host!r} resolves to a {kind} address ({address}); "
                "only public addresses are called (REELPIPE_CALLBACK_ALLOW_PRIVATE)"
            )
    elif scheme != "https":
        raise CallbackRefused(f"callback URL {url[:80]!r}: only https:// URLs are called")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return CallbackTarget(scheme, host, port, path, addresses[0])


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``address``, with ``host`` for the certificate and SNI."""

    def __init__(self, target: CallbackTarget, timeout_s: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout_s, context=ssl.create_default_context()
        )
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to ``address`` (allowed targets on this machine or network only)."""

    def __init__(self, target: CallbackTarget, timeout_s: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout_s)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(target: CallbackTarget, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to the checked target; the HTTP status (redirects are not followed).
    Every socket operation is bounded by ``timeout_s``; OSError when it cannot be reached."""
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPS(target, timeout_s)
    else:
        conn = _PinnedHTTP(target, timeout_s)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    finally:
        conn.close()

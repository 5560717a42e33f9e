"""Where a callback may go: an https URL whose every address is public, reached at the
very address that was checked.

A manifest names the URL, so without a guard anyone who can upload a manifest could make
reelpipe's machines call their own loopback services, the private network or a cloud
metadata endpoint (SSRF). The host is resolved once, every address it resolves to must
be public, and the connection goes to the checked address (the name is kept for TLS and
the ``Host`` header), so a DNS answer that changes between check and use (rebinding)
gains nothing. Redirects are not followed.

``allow``: ``no`` (production), ``loopback`` (``reelpipe serve`` on a laptop: loopback
targets over http or https), ``yes`` (any private address, http too; for local networks).
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


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is not public (None: it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _kind(ip.ipv4_mapped)
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
    timeout_s: float = 10.0,
) -> CallbackTarget:
    """The target of ``url`` if reelpipe may call it; CallbackRefused saying why not."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("https", "http") or not host:
        raise CallbackRefused(f"callback URL {url[:80]!r}: only https:// URLs are called")
    if parts.username or parts.password:
        raise CallbackRefused("callback URL: credentials in the URL are not sent; sign instead")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused(f"callback URL {url[:80]!r}: bad port") from None
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

"""Which requests the webhook's app answers: those that name the address it serves in
``Host``, and, for a write to the operator's API, those sent by its own pages.

Two browser attacks reach a server on the operator's machine without its token:

- **DNS rebinding**: a hostile page at ``evil.example`` re-points its name to 127.0.0.1
  and then reads the API as a same-origin page. The browser still sends
  ``Host: evil.example:9001``, so a ``Host`` that does not name the served address is
  answered 421 (Misdirected Request) on every route, whatever it is.
- **Cross-site requests** (CSRF): a page on another origin posts to ``/v1/.../cancel``.
  A write (POST, PUT, PATCH, DELETE) under ``/v1`` whose ``Origin`` is not the served
  origin, or whose ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, is answered 403.

Two routes skip the ``Host`` check: ``POST /events`` is authenticated by its signature
(a page cannot sign, and senders may come through a tunnel or proxy that names another
host), and ``GET /healthz`` says only "ok" to probes that address the machine by any name.

The served address is what ``serve`` binds, with ``localhost``, ``127.0.0.1`` and
``[::1]`` at that port, plus ``REELPIPE_ALLOWED_HOSTS``. Bound to every interface
(``0.0.0.0``), any IP literal at the port is served too: a page whose origin is an IP
address was loaded from that address, so it cannot be a rebound name. With no
:class:`ServedHosts` (the Modal app, unless ``REELPIPE_ALLOWED_HOSTS`` is set) the ``Host``
check is off: that app is public anyway, and every ``/v1`` call needs the token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.core.errors import ConfigError

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CROSS = frozenset({"cross-site", "same-site"})
UNCHECKED_HOST = frozenset({"/events", "/healthz"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})

HostPort = tuple[str, int | None]


def parse_host(value: str) -> HostPort | None:
    """``host[:port]`` (IPv6 in brackets) as (lower-case host, port or None); None when
    it is not one."""
    if not value or any(c in value for c in "/@?#\\ \t"):
        return None
    parts = urlsplit("//" + value)
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host or (":" in host and not value.startswith("[")):
        return None
    return host.lower().rstrip("."), port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ServedHosts:
    """The ``Host`` values that name this server (a port of None: any port)."""

    names: frozenset[HostPort]
    any_ip_at: int | None = None  # bound to every interface: any IP literal at this port

    @classmethod
    def bound(cls, host: str, port: int, extra: Iterable[str] = ()) -> ServedHosts:
        """What a server bound to ``host:port`` answers, and the ``extra`` hosts
        (``host`` or ``host:port``, as ``REELPIPE_ALLOWED_HOSTS`` spells them).

        Example::

            served = ServedHosts.bound("127.0.0.1", 9001, ["reel.example.com"])
            served.allows("localhost:9001"), served.allows("evil.example:9001")  # True, False
        """
        names = {(name, port) for name in LOOPBACK_NAMES} | _entries(extra)
        wildcard = host.strip("[]") in EVERY_INTERFACE
        if not wildcard:
            names.add((host.strip("[]").lower(), port))
        return cls(frozenset(names), port if wildcard else None)

    @classmethod
    def listed(cls, entries: Iterable[str]) -> ServedHosts | None:
        """Only ``entries`` (the Modal app: its web URL's host); None, no ``Host`` check,
        when there are none."""
        names = _entries(entries)
        return cls(frozenset(names)) if names else None

    def allows(self, host_header: str) -> bool:
        """Whether a request with this ``Host`` names this server."""
        parsed = parse_host(host_header)
        if parsed is None:
            return False
        host, port = parsed
        port = 80 if port is None else port  # served over plain HTTP
        if (host, port) in self.names or (host, None) in self.names:
            return True
        return self.any_ip_at == port and _is_ip(host)


def cross_origin(headers: Headers) -> str | None:
    """Why a write with these headers is not from a page of this server (None: it is, or
    it is not from a browser at all: a script sends neither header)."""
    site = headers.get("sec-fetch-site", "").lower()
    if site in CROSS:
        return f"a {site} request"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    served = parse_host(headers.get("host", ""))
    try:
        given = parts.port
    except ValueError:
        return "a request from an unreadable origin"
    if parts.scheme not in ("http", "https") or not parts.hostname or served is None:
        return f"a request from origin {origin[:80]!r}"
    default = 443 if parts.scheme == "https" else 80
    if (parts.hostname.lower(), given or default) != (served[0], served[1] or default):
        return f"a request from origin {origin[:80]!r}"
    return None


def _entries(entries: Iterable[str]) -> set[HostPort]:
    names = set()
    for entry in entries:
        parsed = parse_host(entry)
        if parsed is None:
            raise ConfigError(
                f"REELPIPE_ALLOWED_HOSTS: {entry!r} is not a host or host:port "
                "(no scheme or path; IPv6 in brackets)"
            )
        names.add(parsed)
    return names


class RequestOriginGuard:
    """ASGI middleware: 421 for a ``Host`` that does not name the server (when
    ``served`` is given), 403 for a cross-origin write under ``api_prefix``."""

    def __init__(self, app: ASGIApp, served: ServedHosts | None, api_prefix: str = "/v1") -> None:
        self.app, self.served, self.api_prefix = app, served, api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if (
            self.served is not None
            and path not in UNCHECKED_HOST
            and not self.served.allows(headers.get("host", ""))
        ):
            answer = JSONResponse(
                {"detail": "this server does not answer for that Host (REELPIPE_ALLOWED_HOSTS)"},
                status_code=421,
            )
            await answer(scope, receive, send)
            return
        api = path == self.api_prefix or path.startswith(self.api_prefix + "/")
        reason = cross_origin(headers) if api and scope["method"] in WRITES else None
        if reason is not None:
            answer = JSONResponse(
                {"detail": f"refused: {reason}; the API takes writes from its own pages only"},
                status_code=403,
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

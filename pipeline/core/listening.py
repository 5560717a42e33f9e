"""Listening sockets bound by the caller, so a taken port is one clear error.

``serve`` binds its ports itself (the embedded store's, the webhook's) before
it starts anything that uses them: a port another process holds stops it with
a :class:`ConfigError` naming the option to change, not a library's own
message on stderr or a half-started service. Every port is tried before it
fails (:func:`listen_on_all`), so one error names them all, and the process
holding them when this machine says (another ``reelpipe serve``, most often).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.errors import ConfigError
from pipeline.core.port_holder import port_holder


@dataclass(frozen=True)
class Wanted:
    """A port to listen on: what it serves and the option that changes it."""

    port: int
    what: str
    option: str


class PortTaken(ConfigError):
    """A port to serve on is held by another process (or not available)."""


def listen_on(host: str, port: int, *, what: str, option: str) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: any free port).

    Raises PortTaken ("cannot serve {what} on host:port ...; choose another
    {option}") when the address is taken or not available."""
    return listen_on_all(host, [Wanted(port, what, option)])[0]


def listen_on_all(host: str, wanted: Sequence[Wanted]) -> list[socket.socket]:
    """One listening socket per ``wanted`` port, in order; when any is taken, every one
    is tried first and a single PortTaken names all the taken ones (those bound are
    closed again)."""
    bound: list[socket.socket] = []
    failed: list[tuple[Wanted, str]] = []
    for want in wanted:
        try:
            bound.append(_bind(host, want.port))
        except OSError as exc:
            failed.append((want, exc.strerror or str(exc)))
    if not failed:
        return bound
    for sock in bound:
        sock.close()
    raise PortTaken(_taken_message(host, failed))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _taken_message(host: str, failed: Sequence[tuple[Wanted, str]]) -> str:
    places = " and ".join(f"{want.what} on {host}:{want.port}" for want, _ in failed)
    reasons = sorted({reason for _, reason in failed})
    holders = {port_holder(want.port) for want, _ in failed if want.port} - {None}
    if any(holder.is_serve for holder in holders if holder is not None):
        who = "another reelpipe serve is running"
    else:
        who = "is another reelpipe serve running?"
    pids = sorted(holder.pid for holder in holders if holder is not None)
    if pids:
        who += f" (pid {', '.join(map(str, pids))})"
    options = " and ".join(want.option for want, _ in failed)
    return (
        f"cannot serve {places}: {'; '.join(reasons)}; {who}: stop it, or choose another {options}"
    )

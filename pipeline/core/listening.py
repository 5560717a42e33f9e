"""Listening sockets bound by the caller, so a taken port is one clear error.

``serve`` binds its ports itself (the embedded store's, the webhook's) before
it starts anything that uses them: a port another process holds stops it with
a :class:`ConfigError` naming the option to change, not a library's own
message on stderr or a half-started service.
"""

from __future__ import annotations

import socket

from pipeline.core.errors import ConfigError


def listen_on(host: str, port: int, *, what: str, option: str) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: any free port).

    Raises ConfigError ("cannot serve {what} on host:port ...; choose another
    {option}") when the address is taken or not available."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot serve {what} on {host}:{port}: {exc.strerror or exc}; another "
            f"process may hold the port: choose another {option}"
        ) from None
    return sock

"""The embedded default: an S3 API served by moto on loopback, in this process.

Used when no endpoint is configured, so ``reelpipe process`` and ``reelpipe
serve`` need no account. The data lives in memory and dies with the process.

Example::

    with EmbeddedS3() as server:
        settings = settings.model_copy(update={"endpoint_url": server.endpoint_url})
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType

from pipeline.errors import ConfigError

EMBEDDED_HOST = "127.0.0.1"


class EmbeddedS3:
    """A moto S3 server on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str = EMBEDDED_HOST, port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: object | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise ConfigError("the embedded S3 server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedS3:
        """Start serving; returns self."""
        from moto.server import ThreadedMotoServer

        if self.port:
            self._check_port_free()

        # werkzeug logs one line per request at INFO: keep the terminal for progress.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise ConfigError(f"cannot serve S3 on {self.host}:{self.port}: {exc}") from exc
        self.port = server.get_host_and_port()[1]
        self._server = server
        return self

    def _check_port_free(self) -> None:
        # moto binds inside its thread and would wait forever on a taken port.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve S3 on {self.host}:{self.port}: {exc.strerror}; "
                    "choose another --port"
                ) from exc

    def stop(self) -> None:
        """Stop serving (the data is gone)."""
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

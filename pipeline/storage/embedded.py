"""The embedded default: an S3 API served by moto on loopback, in this process.

Used when no endpoint is configured, so ``reelpipe process`` and ``reelpipe
serve`` need no account. Without a data directory the objects live in memory
and die with the process (``process`` uses such a throwaway store); with one
(``serve``) they are loaded at start and saved every few seconds and at stop
(:mod:`pipeline.storage.snapshot`).

Every request must be signed (SigV4, header or presigned) by the key pair it was
started with; anything else is refused before moto sees it, and it answers no CORS
(:mod:`pipeline.storage.sigv4_gate`).

It is a development and single-machine store: one process serves it, and a
SIGKILL loses the last few seconds of writes. For anything shared or lasting,
point reelpipe at MinIO, S3 or R2 (``--endpoint-url``).

Example::

    with EmbeddedS3(keys=KeyPair("reelpipe-local", secret)) as server:
        settings = settings.replace(endpoint_url=server.endpoint_url)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import ConfigError
from pipeline.core.kept_secrets import make_private_dir
from pipeline.core.listening import listen_on
from pipeline.storage.sigv4 import KeyPair
from pipeline.storage.sigv4_gate import SigV4Gate

if TYPE_CHECKING:
    from pipeline.storage.snapshot import PeriodicSaver

__all__ = ["EMBEDDED_HOST", "EmbeddedS3", "KeyPair"]
# The embedded S3 server listens on loopback only. Defined here, not with the settings:
# the child process that serves ``reelpipe process``'s store imports this module and
# nothing of the settings or logging libraries, so it is ready sooner.
EMBEDDED_HOST = "127.0.0.1"
# How often the serving loop checks for shutdown: stopping costs at most this long.
POLL_INTERVAL_S = 0.05


class EmbeddedS3:
    """A moto S3 server on ``host:port`` (port 0 picks a free one).

    Built like moto's ``ThreadedMotoServer``, but the socket is bound in the
    caller's thread (a taken port is an error here, not a hang in a thread) and
    the serving loop polls for shutdown every 50 ms instead of 500 ms.

    ``keys`` is the one key pair it accepts. ``moto_api=True`` opens moto's
    ``/moto-api/`` (reset) to requests signed by it: for tests, never for ``serve``.
    """

    def __init__(
        self,
        host: str = EMBEDDED_HOST,
        port: int = 0,
        *,
        data_dir: Path | None = None,
        keys: KeyPair,
        moto_api: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.keys = keys
        self.moto_api = moto_api
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._saver: PeriodicSaver | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise ConfigError("the embedded S3 server is not running")
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedS3:
        """Start serving; returns self."""
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        # werkzeug logs one line per request at INFO: keep the terminal for progress.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self.data_dir is not None:
            make_private_dir(self.data_dir)  # the objects on disk are the users' videos
        app = SigV4Gate(_s3_only(moto_api=self.moto_api), self.keys, moto_api=self.moto_api)
        # Bound here, not by werkzeug: it prints to stderr and exits when the port is taken.
        with listen_on(self.host, self.port, what="S3", option="--port") as sock:
            server = make_server(
                self.host,
                self.port,
                app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=sock.fileno(),  # werkzeug serves on its own duplicate of it
            )
        self.port = int(server.server_address[1])
        if self.data_dir is not None:
            # Only a store kept on disk (``serve``) needs it, and it brings the logging.
            from pipeline.storage.snapshot import PeriodicSaver, Snapshot

            snapshot = Snapshot(self.data_dir)
            snapshot.load()
            self._saver = PeriodicSaver(snapshot)
            self._saver.start()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name="embedded-s3",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (the data is saved first when there is a data directory)."""
        if self._saver is not None:
            self._saver.stop()
            self._saver = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _s3_only(*, moto_api: bool) -> Any:
    """moto's S3 app alone (and its ``/moto-api`` when asked): moto's own dispatcher picks
    a service from unsigned headers and bodies (``X-Amz-Target``, ``Action=``), so a
    request the gate verified as S3 could be answered by STS or SQS."""
    from moto.moto_server.werkzeug_app import create_backend_app

    s3 = create_backend_app("s3")
    control = create_backend_app("moto_api") if moto_api else None

    def route(environ: dict[str, Any], start_response: Any) -> Any:
        if control is not None and str(environ.get("PATH_INFO", "")).startswith("/moto-api"):
            return control(environ, start_response)
        return s3(environ, start_response)

    return route

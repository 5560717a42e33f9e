"""Serve one bucket object on loopback, so ffprobe can read it in place without
ever seeing a signed URL.

A presigned URL on ffprobe's command line is visible to anyone who runs ``ps``
for as long as the probe lasts, and its signature is a credential. The relay
instead answers ``GET`` (with ``Range``, so ffprobe can seek to an index at the
end of the file) on ``http://127.0.0.1:<port>/<random token>/<name>`` and
fetches each range through the bucket's own client: the credentials stay in
this process, and every read is bounded by the client's timeouts. When the
store fails or stalls, the relay records it, so the caller reports a
retryable storage error rather than a broken clip.

Example::

    with ObjectRelay(bucket, "users/a/clips/x.mp4") as relay:
        info = probe_url(relay.url, "x.mp4", size, timeout_s=60)
"""

from __future__ import annotations

import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from pipeline.core.errors import ObjectNotFound, ReelpipeError
from pipeline.storage.bucket import Bucket

CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class ObjectRelay:
    """A loopback HTTP server for one object, alive for the ``with`` block."""

    def __init__(self, bucket: Bucket, key: str) -> None:
        self.bucket = bucket
        self.key = key
        self.failure: ReelpipeError | None = None
        self._active = 0  # requests being answered now
        self._lock = threading.Lock()
        self._token = secrets.token_urlsafe(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def troubled(self) -> bool:
        """Whether the store failed a read, or is still being waited on: a reader that gave
        up meanwhile saw the store's trouble, not a broken clip."""
        with self._lock:
            return self.failure is not None or self._active > 0

    @property
    def url(self) -> str:
        """Where the object is served (valid only inside the ``with`` block)."""
        assert self._server is not None, "the relay is not running"
        host, port = self._server.server_address[:2]
        name = self.key.rsplit("/", 1)[-1]
        return f"http://{host!s}:{port}/{self._token}/{name}"

    def __enter__(self) -> ObjectRelay:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                relay._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a reader that hung up mid-answer is normal (ffprobe seeks)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="object-relay",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._active += 1
        try:
            self._answer(handler)
        except OSError:
            pass  # the reader hung up
        finally:
            with self._lock:
                self._active -= 1

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if not handler.path.startswith(f"/{self._token}/"):
            handler.send_error(404)
            return
        first, last = 0, None
        asked = _RANGE.match(handler.headers.get("Range", "").strip())
        if asked:
            first = int(asked.group(1))
            last = int(asked.group(2)) if asked.group(2) else None
        try:
            body, length, total = self.bucket.open_range(self.key, first, last)
        except ObjectNotFound:
            handler.send_error(404)
            return
        except ReelpipeError as exc:
            self.failure = exc
            handler.send_error(502)
            return
        handler.send_response(206 if asked else 200)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(length))
        handler.send_header("Content-Type", "application/octet-stream")
        if asked:
            handler.send_header("Content-Range", f"bytes {first}-{first + length - 1}/{total}")
        handler.end_headers()
        try:
            while chunk := body.read(CHUNK_BYTES):
                handler.wfile.write(chunk)
        except ReelpipeError as exc:
            self.failure = exc  # the store stalled mid-body: the client sees a short read
        except OSError:
            pass  # ffprobe closed the connection (it seeks by reconnecting)
        finally:
            body.close()

"""The embedded store's front door: a WSGI layer that verifies SigV4 or refuses.

moto's server checks no credentials: an anonymous caller can list and write, a forged
signature reads and deletes, a presigned link opens any key once its path is edited (or
long after it expired), and moto answers CORS for any ``Origin``, so a web page in the
user's browser could read the store. moto's own switch (``INITIAL_NO_AUTH_ACTION_COUNT``)
was measured to answer 500 to anonymous lists and PUTs and to every presigned URL, fresh
or not, and it needs IAM users made first; so this layer sits in front of moto instead,
with the store's one key pair, and moto behind it stays as it is.

What it does, and nothing else:

- every request must carry a valid SigV4 signature by the store's key pair, in the
  ``Authorization`` header or as a presigned query (:mod:`pipeline.storage.sigv4`);
  refusals are S3's XML errors (``AccessDenied``, ``InvalidAccessKeyId``,
  ``SignatureDoesNotMatch``, ...), so boto3 and the ``aws`` CLI report them as S3 would;
- a body whose ``x-amz-content-sha256`` is a hex digest is hashed and compared before
  moto sees it. ``UNSIGNED-PAYLOAD`` and the aws-chunked ``STREAMING-*`` forms pass with
  their headers' (seed) signature verified; the per-chunk signatures of
  ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` are not checked (moto decodes the chunks): a
  caller who can sign headers holds the key anyway, and botocore sends that form only
  when asked to;
- ``/moto-api/`` (reset, state dumps, the recorder) is refused unless the gate was built
  with ``moto_api=True`` (the test suite's switch; ``serve`` never sets it), and even then
  only signed;
- no CORS: an ``OPTIONS`` preflight is refused and every ``Access-Control-*`` header moto
  adds is removed, so a browser page on another origin cannot read an answer.

Example::

    app = SigV4Gate(moto_app, KeyPair("reelpipe-local", secret))
"""

from __future__ import annotations

import hashlib
import hmac
import io
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from pipeline.storage.sigv4 import KeyPair, Refusal, SignedRequest, Verified, verify

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_READ_CHUNK = 1024 * 1024
_CORS_PREFIX = "access-control-"
_STATUS_TEXT = {400: "400 Bad Request", 403: "403 Forbidden"}


class SigV4Gate:
    """Wraps ``app`` (moto's WSGI app): only requests signed by ``keys`` reach it."""

    def __init__(
        self,
        app: WSGIApp,
        keys: KeyPair,
        *,
        moto_api: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.keys = keys
        self.moto_api = moto_api
        self.clock = clock

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path_info = environ.get("PATH_INFO", "")
        if method == "OPTIONS":
            return _refuse(start_response, method, Refusal("AccessDenied", "CORS is not served"))
        if path_info.startswith("/moto-api") and not self.moto_api:
            return _refuse(start_response, method, Refusal("AccessDenied", "Access Denied"))
        raw_path = _raw_path(environ)
        if raw_path is None:
            return _refuse(
                start_response, method, Refusal("InvalidURI", "Couldn't parse the URI", 400)
            )
        request = SignedRequest(
            method, raw_path, environ.get("QUERY_STRING", ""), _headers(environ)
        )
        result = verify(request, self.keys, now=self.clock())
        if isinstance(result, Refusal):
            return _refuse(start_response, method, result)
        refusal = _check_payload(environ, result)
        if refusal is not None:
            return _refuse(start_response, method, refusal)
        return self.app(environ, _without_cors(start_response))


def _raw_path(environ: dict[str, Any]) -> str | None:
    """The path as the client sent it (werkzeug's ``RAW_URI``), or None when it does not
    decode to the ``PATH_INFO`` moto will serve: the verified key is the served key."""
    path_info: str = environ.get("PATH_INFO", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        # PATH_INFO is decoded (UTF-8 bytes as latin-1, per WSGI): encode it again.
        return quote(path_info.encode("latin-1"), safe="/~")
    raw_path = str(raw).partition("?")[0]
    if unquote(raw_path).encode("utf-8").decode("latin-1") != path_info:
        return None
    return raw_path


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers by lower-case name (WSGI keeps two of them outside ``HTTP_``)."""
    headers = {
        name[5:].lower().replace("_", "-"): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.lower().replace("_", "-")] = str(environ[name])
    return headers


def _check_payload(environ: dict[str, Any], verified: Verified) -> Refusal | None:
    """Hash the body when its digest was signed; moto then reads the bytes hashed here."""
    if verified.payload_sha256 is None:
        return None
    stream = environ["wsgi.input"]
    length = str(environ.get("CONTENT_LENGTH") or "")
    # No length: the body ends with the stream only when werkzeug says so (chunked
    # transfer); otherwise it is empty, and reading the socket would wait forever.
    remaining = int(length) if length.isdigit() else None
    if remaining is None and not environ.get("wsgi.input_terminated"):
        remaining = 0
    body = io.BytesIO()
    digest = hashlib.sha256()
    while remaining is None or remaining > 0:
        chunk = stream.read(_READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        body.write(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    if not hmac.compare_digest(digest.hexdigest(), verified.payload_sha256):
        return Refusal(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed",
            400,
        )
    body.seek(0)
    environ["wsgi.input"] = body
    environ["CONTENT_LENGTH"] = str(body.getbuffer().nbytes)
    return None


def _without_cors(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """``start_response`` that drops every ``Access-Control-*`` header moto sets."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [
            (name, value) for name, value in headers if not name.lower().startswith(_CORS_PREFIX)
        ]
        return start_response(status, kept, exc_info)

    return start


def _refuse(start_response: Callable[..., Any], method: str, refusal: Refusal) -> list[bytes]:
    """An S3 XML error. The connection is closed after it: a refused upload's body is
    never read, and it must not be taken for the next request."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message>"
        "<RequestId>0</RequestId></Error>"
    ).encode()
    start_response(
        _STATUS_TEXT.get(refusal.status, f"{refusal.status} Error"),
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
    )
    return [] if method == "HEAD" else [body]

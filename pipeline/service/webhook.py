"""The webhook: bucket event notifications in, claims out.

Accepts Cloudflare R2 event notifications (one event or a batch)::

    {"account": "...", "bucket": "clips", "action": "PutObject",
     "object": {"key": "inbox/alice/r1.json", "size": 123, "eTag": "..."},
     "eventTime": "2026-11-29T10:00:00Z"}

and S3 event notifications (``{"Records": [{"s3": {"object": {"key": ...}}}]}``,
keys URL-encoded with ``+`` for space). Keys outside ``inbox/`` (including the
pipeline's own writes) are ignored.

Every request is authenticated with a shared secret: the sender puts the Unix
time in ``X-Reelpipe-Timestamp`` and ``sha256=<hex>`` in ``X-Reelpipe-Signature``,
the HMAC-SHA256 of ``"{timestamp}.{body}"``. Requests older or newer than five
minutes are refused, so a captured request cannot be replayed later. The
signature is checked before the body is parsed (within size and depth
limits) and before any claim touches the bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import InvalidKey, ReelpipeError
from pipeline.core.keys import INBOX_PREFIX, parse_inbox_key
from pipeline.manifests.bounded_json import JsonRefused, loads_bounded

TIMESTAMP_HEADER = "x-reelpipe-timestamp"
SIGNATURE_HEADER = "x-reelpipe-signature"
REPLAY_WINDOW_S = 300


class WebhookError(ReelpipeError):
    """A webhook request that is refused."""

    status_code = 400


class WebhookUnauthorized(WebhookError):
    """Missing, wrong or stale signature (HTTP 401)."""

    status_code = 401


class WebhookBadRequest(WebhookError):
    """A body that is not an R2 or S3 event notification (HTTP 400)."""

    status_code = 400


class WebhookTooLarge(WebhookError):
    """A body over the size limit (HTTP 413)."""

    status_code = 413


MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_DEPTH = 16


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers a sender adds (for clients, tests and the benchmark)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, body, ts)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """WebhookUnauthorized unless the request is signed with ``secret`` and fresh."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp, signature = lowered.get(TIMESTAMP_HEADER), lowered.get(SIGNATURE_HEADER)
    if not stamp or not signature:
        raise WebhookUnauthorized("missing signature headers")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookUnauthorized("malformed timestamp") from None
    if abs(now - timestamp) > REPLAY_WINDOW_S:
        raise WebhookUnauthorized("timestamp outside the 5-minute window")
    if not hmac.compare_digest(sign(secret, body, timestamp), signature):
        raise WebhookUnauthorized("bad signature")


def _r2_key(event: Any) -> str:
    obj = event.get("object") if isinstance(event, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise WebhookBadRequest("an R2 event needs object.key")
    return str(obj["key"])


def event_keys(document: Any) -> list[str]:
    """The object keys an R2 or S3 notification document names."""
    if isinstance(document, dict) and "Records" in document:
        records = document["Records"]
        if not isinstance(records, list):
            raise WebhookBadRequest("Records must be a list")
        keys = []
        for record in records:
            try:
                raw = record["s3"]["object"]["key"]
            except (KeyError, TypeError):
                raise WebhookBadRequest("an S3 record needs s3.object.key") from None
            keys.append(urllib.parse.unquote_plus(str(raw)))
        return keys
    if isinstance(document, dict) and "Event" in document and "Records" not in document:
        return []  # s3:TestEvent sent when notifications are configured
    if isinstance(document, list):
        return [_r2_key(event) for event in document]
    if isinstance(document, dict) and "messages" in document:
        messages = document["messages"]
        if not isinstance(messages, list):
            raise WebhookBadRequest("messages must be a list")
        return [_r2_key(m.get("body", m) if isinstance(m, dict) else m) for m in messages]
    if isinstance(document, dict) and "object" in document:
        return [_r2_key(document)]
    raise WebhookBadRequest("not an R2 or S3 event notification")


@dataclass
class WebhookResult:
    """What a webhook request led to."""

    claimed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The response body."""
        return {"claimed": self.claimed, "ignored": self.ignored}


def authenticated_keys(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> tuple[list[str], list[str]]:
    """Authenticate, then parse: ``(inbox manifest keys, ignored keys)``. No I/O."""
    verify(secret, headers, body, time.time() if now is None else now)
    try:
        document = loads_bounded(
            body, max_bytes=max_body_bytes, max_depth=MAX_BODY_DEPTH, what="the body"
        )
    except JsonRefused as exc:
        raise WebhookBadRequest(str(exc)) from None
    inbox: list[str] = []
    ignored: list[str] = []
    for key in event_keys(document):
        try:
            if not key.startswith(INBOX_PREFIX):
                raise InvalidKey(key)
            parse_inbox_key(key)
        except InvalidKey:
            ignored.append(key)  # the scan moves invalid inbox keys aside
            continue
        inbox.append(key)
    return list(dict.fromkeys(inbox)), ignored

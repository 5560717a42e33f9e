"""How an app hands work to reelpipe: upload the clip, then the manifest to the inbox.

The clip goes first so the manifest never names a clip that is not there yet.
Clips are stored under ``users/{user_id}/clips/{sha256 prefix}-{name}``: the
same content is uploaded once, and a different clip with the same name never
overwrites an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import ObjectNotFound
from pipeline.core.keys import inbox_key, job_id_for
from pipeline.storage.bucket import Bucket

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def clip_key_for(path: Path) -> str:
    """The key, relative to the user folder, a clip is stored under."""
    name = _UNSAFE.sub("_", path.name).strip("._") or "clip.mp4"
    return f"clips/{_digest(path)[:16]}-{name[:100]}"


def upload_clip(bucket: Bucket, user_id: str, path: Path) -> str:
    """Upload ``path`` (once per content); returns its key relative to the user folder."""
    return upload_clip_version(bucket, user_id, path, clip_key_for(path))[0]


def upload_clip_version(bucket: Bucket, user_id: str, path: Path, relative: str) -> tuple[str, str]:
    """Upload ``path`` under ``relative`` (its :func:`clip_key_for`) unless it is there;
    returns the relative key and the stored version's ETag."""
    key = bucket.layout.user_key(user_id, relative)
    try:
        return relative, bucket.head(key).etag
    except ObjectNotFound:
        return relative, bucket.upload_file(path, key, content_type="video/mp4")


@dataclass(frozen=True)
class Submission:
    """A manifest in the inbox, and the job it will become."""

    inbox_key: str
    job_id: str


def submit_manifest(
    bucket: Bucket, user_id: str, manifest: dict[str, Any] | bytes, *, request_id: str | None = None
) -> Submission:
    """Put a manifest in the inbox (never over another). Bytes are uploaded as they are."""
    key = inbox_key(user_id, request_id or uuid.uuid4().hex)
    body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    etag = bucket.put_bytes(key, body, content_type="application/json", if_none_match=True)
    return Submission(key, job_id_for(key, etag))

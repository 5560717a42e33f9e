"""How objects leave the inbox: retired after a safe copy, or moved aside with a reason.

Nothing an app uploaded is deleted unless it is exactly the version that was
copied: every delete names the ETag that was read (``If-Match`` where the
store honours it, a read-back comparison where it does not, see
:meth:`~pipeline.storage.bucket.Bucket.delete_version`). A manifest overwritten after
it was read stays in the inbox, and the next scan claims the new version.

An inbox object whose key is not ``inbox/{user}/{request}.json`` with valid
ids, or that is too large to be a manifest, is moved to
``rejected/{original key}`` with ``rejected/{original key}.reason.json`` beside
it and logged once, instead of being listed by every scan forever.

Example::

    retire_inbox_copy(bucket, "inbox/alice/r1.json", etag, conditional=True)
    reject_inbox_object(bucket, "inbox/alice/bad id.json", etag, "bad request id", True)
"""

from __future__ import annotations

import structlog

from pipeline.core.errors import bounded_message
from pipeline.core.keys import rejected_key
from pipeline.manifests.status import utc_now
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


def retire_inbox_copy(bucket: Bucket, inbox_key: str, etag: str, *, conditional: bool) -> bool:
    """Remove the inbox manifest if it is still the version ``etag`` (already copied).

    True when it was removed; False when a newer version is there (left for the
    next scan) or it is gone already.
    """
    removed = bucket.delete_version(inbox_key, etag, conditional=conditional)
    if not removed:
        log.info("inbox_kept_newer_version", inbox_key=inbox_key, claimed_etag=etag)
    return removed


def reject_inbox_object(
    bucket: Bucket, inbox_key: str, etag: str, reason: str, conditional: bool
) -> bool:
    """Move an object that cannot be a manifest to ``rejected/`` with its reason.

    The copy is server-side; the delete that follows removes only the version
    copied, so an object replaced in between stays and is judged again by the
    next scan. True when the inbox key was removed.
    """
    dest = rejected_key(inbox_key)
    reason = bounded_message(reason, 500)
    bucket.copy_version(inbox_key, etag, dest)
    bucket.put_json(
        dest + ".reason.json",
        {"key": inbox_key, "etag": etag.strip('"'), "reason": reason, "at": utc_now().isoformat()},
    )
    removed = bucket.delete_version(inbox_key, etag, conditional=conditional)
    log.warning("inbox_rejected", inbox_key=inbox_key, moved_to=dest, reason=reason)
    return removed

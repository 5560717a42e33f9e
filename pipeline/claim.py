"""Claiming a manifest from the inbox: exactly one claimer gets each upload.

The job id is derived from the manifest's key and ETag, so the same upload
seen twice (scan and webhook, two scanners, a retried event) is the same job.
The claim is the creation of its status manifest with ``If-None-Match: *``.
Only after winning is the manifest (the very version that was read) written
into the job folder, and only then removed from the inbox: nothing uploaded is
lost. The copy is a GET and a PUT rather than a server-side copy: a manifest is
small, and pinning a server-side copy to an ETag is not honoured everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from pipeline.errors import AlreadyExists, ObjectNotFound
from pipeline.keys import job_id_for, job_manifest_key, parse_inbox_key, status_key
from pipeline.manifests.status import StatusManifest
from pipeline.status_store import StatusStore
from pipeline.storage import Bucket

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClaimedJob:
    """A job this process won and must now run."""

    user_id: str
    job_id: str
    manifest_key: str
    status: StatusStore


def claim(bucket: Bucket, inbox_key: str) -> ClaimedJob | None:
    """Claim the manifest at ``inbox_key``; None if another claimer won or it is gone."""
    entry = parse_inbox_key(inbox_key)
    try:
        body, etag = bucket.get_bytes(inbox_key)
    except ObjectNotFound:
        return None
    job_id = job_id_for(inbox_key, etag)
    manifest_key = job_manifest_key(entry.user_id, job_id)
    store = StatusStore(bucket, status_key(entry.user_id, job_id))
    status = StatusManifest(
        job_id=job_id,
        user_id=entry.user_id,
        request_key=inbox_key,
        manifest_key=manifest_key,
    )
    try:
        store.create(status)
    except AlreadyExists:
        log.debug("claim_lost", inbox_key=inbox_key, job_id=job_id)
        return None
    # The body read above is exactly the version this job id names: keep that one.
    bucket.put_bytes(manifest_key, body, content_type="application/json")
    bucket.delete(inbox_key)
    log.info("claimed", inbox_key=inbox_key, job_id=job_id)
    return ClaimedJob(entry.user_id, job_id, manifest_key, store)

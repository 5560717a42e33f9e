"""Claiming a manifest from the inbox: exactly one claimer gets each upload.

The job id is derived from the manifest's key and ETag, so the same upload
seen twice (scan and webhook, two scanners, a retried event) is the same job.
The claim is the creation of its status manifest with ``If-None-Match: *``.

Order of writes, each safe to repeat:

1. ``active/{user}/{job}`` marker (so a claimer that dies right after winning is
   still found and resumed by the next scan; losers rewrite the same empty object);
2. the status manifest, created only if absent: **the claim**;
3. the manifest (the very version that was read) into the job folder;
4. the inbox entry removed. Nothing uploaded is lost before it is copied.

The copy is a GET and a PUT rather than a server-side copy: a manifest is
small, and pinning a server-side copy to an ETag is not honoured everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from pipeline.errors import AlreadyExists, ObjectNotFound
from pipeline.keys import active_key, job_id_for, job_manifest_key, parse_inbox_key, status_key
from pipeline.lease import new_lease
from pipeline.manifests.status import LeaseKind, StatusManifest
from pipeline.status_store import StatusStore
from pipeline.storage import Bucket

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClaimedJob:
    """A job to run: claimed just now, or found again by a scan to resume."""

    user_id: str
    job_id: str
    manifest_key: str
    status: StatusStore

    @classmethod
    def existing(cls, bucket: Bucket, user_id: str, job_id: str) -> ClaimedJob:
        """A handle on a job that was claimed before."""
        return cls(
            user_id,
            job_id,
            job_manifest_key(user_id, job_id),
            StatusStore(bucket, status_key(user_id, job_id)),
        )


def claim(
    bucket: Bucket, inbox_key: str, *, owner: str = "", lease_ttl_s: float = 60.0
) -> ClaimedJob | None:
    """Claim the manifest at ``inbox_key``; None if another claimer won or it is gone.

    The new job holds a claim lease: scans leave it alone until it expires (its
    claimer died before a worker started it), while any worker may start it.
    """
    entry = parse_inbox_key(inbox_key)
    try:
        body, etag = bucket.get_bytes(inbox_key)
    except ObjectNotFound:
        return None
    job_id = job_id_for(inbox_key, etag)
    job = ClaimedJob.existing(bucket, entry.user_id, job_id)
    bucket.put_bytes(active_key(entry.user_id, job_id), b"", content_type="text/plain")
    status = StatusManifest(
        job_id=job_id,
        user_id=entry.user_id,
        request_key=inbox_key,
        manifest_key=job.manifest_key,
        lease=new_lease(owner or "claimer", lease_ttl_s, LeaseKind.CLAIM),
    )
    try:
        job.status.create(status)
    except AlreadyExists:
        log.debug("claim_lost", inbox_key=inbox_key, job_id=job_id)
        return None
    bucket.put_bytes(job.manifest_key, body, content_type="application/json")
    bucket.delete(inbox_key)
    log.info("claimed", inbox_key=inbox_key, job_id=job_id)
    return job

"""Claiming a manifest from the inbox: exactly one claimer gets each upload.

The job id is derived from the manifest's key and ETag, so the same upload
seen twice (scan and webhook, two scanners, a retried event) is the same job.
The claim is the creation of its status manifest with ``If-None-Match: *``.

Order of writes, each safe to repeat:

1. ``active/{user}/{job}`` marker, saying queued (so a claimer that dies right after
   winning is still found and resumed by the next scan); created only if absent, so a
   loser never puts "queued" back over a state the winner's worker wrote;
2. the status manifest, created only if absent: **the claim**;
   then the request pointer ``{root}requests/{request_id}.json`` (created only if absent:
   a request id used again keeps naming its first job, and the jobs of its uploads are
   linked, :mod:`pipeline.jobs.request_reuse`);
3. the manifest (the very version that was read) into the job folder;
4. the inbox entry removed, **only if it is still that version**
   (:mod:`pipeline.jobs.inbox`): a manifest overwritten meanwhile stays for the next
   scan. Nothing uploaded is lost before it is copied.

A claim's writes may stop part way (its claimer died): the job's first run finishes
them (:func:`finish_claim`, :func:`claimed_manifest`).

A claim that loses because the job already exists (the same manifest
uploaded again, byte for byte, after it was claimed) retires the inbox copy
once the job holds its own copy, so it is not listed by every scan forever.

The copy is a GET and a PUT rather than a server-side copy: a manifest is
small, and pinning a server-side copy to an ETag is not honoured everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import structlog

from pipeline.core.errors import (
    AlreadyExists,
    InvalidManifest,
    ObjectNotFound,
    PreconditionFailed,
)
from pipeline.core.keys import job_id_for, parse_inbox_key
from pipeline.core.settings import Settings
from pipeline.jobs.inbox import reject_inbox_object, retire_inbox_copy
from pipeline.jobs.lease import new_lease
from pipeline.jobs.request_reuse import link_reused_request
from pipeline.manifests.request_pointer import RequestPointer
from pipeline.manifests.status import LeaseKind, StatusManifest
from pipeline.status.marker import create_marker
from pipeline.status.store import StatusStore
from pipeline.storage.bucket import Bucket, ObjectInfo

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClaimedJob:
    """A job to run: claimed just now, or found again by a scan to resume."""

    user_id: str
    job_id: str
    manifest_key: str
    status: StatusStore
    # Left by the claim that made the job, for its run in the same process: the request
    # pointer is settled (written, or found naming an earlier job: the run need not make
    # sure, a second create being a refused write of 15 to 30 ms), and the manifest it
    # copied into the job folder (not read back).
    pointer_written: bool = False
    manifest_body: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def existing(cls, bucket: Bucket, user_id: str, job_id: str) -> ClaimedJob:
        """A handle on a job that was claimed before."""
        return cls(
            user_id,
            job_id,
            bucket.layout.job_manifest_key(user_id, job_id),
            StatusStore(bucket, bucket.layout.status_key(user_id, job_id)),
        )


@dataclass(frozen=True)
class ClaimPolicy:
    """How claims behave against this store."""

    owner: str = "claimer"
    lease_ttl_s: float = 60.0
    max_manifest_bytes: int = 256 * 1024
    conditional_delete: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, owner: str) -> ClaimPolicy:
        """The policy the settings describe, for claims made by ``owner``."""
        return cls(
            owner=owner,
            lease_ttl_s=settings.leases.ttl_s,
            max_manifest_bytes=settings.security.max_manifest_bytes,
            conditional_delete=settings.storage.uses_conditional_delete,
        )


def claim(
    bucket: Bucket,
    inbox_key: str,
    policy: ClaimPolicy | None = None,
    *,
    listed: ObjectInfo | None = None,
) -> ClaimedJob | None:
    """Claim the manifest at ``inbox_key``; None if another claimer won or it is gone.

    The new job holds a claim lease: scans leave it alone until it expires (its
    claimer died before a worker started it), while any worker may start it.
    An object too large to be a manifest is moved to ``rejected/`` instead.

    With ``listed`` (the version a listing saw: a scan) the manifest is copied by the
    store itself, from exactly that version (4 requests a claim, not 5); without it
    (a webhook event) it is read and written back. Either way the job's copy is the
    version whose ETag names the job; if the inbox object changed in between, the job
    has no copy and its run fails saying so, while the new version is its own job.
    """
    policy = policy or ClaimPolicy()
    entry = parse_inbox_key(inbox_key)
    body: bytes | None = None
    if listed is not None and "-" not in listed.etag:  # one part: its ETag is its MD5
        etag, size = listed.etag, listed.size
    else:
        try:
            body, etag, size = bucket.get_prefix(inbox_key, policy.max_manifest_bytes)
        except ObjectNotFound:
            return None
    if size > policy.max_manifest_bytes:
        reason = f"{size} bytes is larger than a manifest may be ({policy.max_manifest_bytes})"
        reject_inbox_object(bucket, inbox_key, etag, reason, policy.conditional_delete)
        return None
    job_id = job_id_for(inbox_key, etag)
    job = ClaimedJob.existing(bucket, entry.user_id, job_id)
    status = StatusManifest(
        job_id=job_id,
        user_id=entry.user_id,
        request_key=inbox_key,
        manifest_key=job.manifest_key,
        lease=new_lease(policy.owner, policy.lease_ttl_s, LeaseKind.CLAIM),
    )
    create_marker(bucket, status)
    try:
        job.status.create(status)
    except AlreadyExists:
        _retire_duplicate(bucket, job, inbox_key, etag, policy)
        return None
    if not write_request_pointer(bucket, status):
        link_reused_request(bucket, status)  # the id named an earlier job: say so in both
    if body is not None:
        bucket.put_bytes(job.manifest_key, body, content_type="application/json")
    else:
        if not _copy_listed_version(bucket, inbox_key, etag, job.manifest_key):
            log.warning("claimed_version_gone", inbox_key=inbox_key, job_id=job_id)
            # Its run finds no copy and fails clearly; the inbox is untouched.
            return replace(job, pointer_written=True)
    retire_inbox_copy(bucket, inbox_key, etag, conditional=policy.conditional_delete)
    log.info("claimed", inbox_key=inbox_key, job_id=job_id)
    return replace(job, pointer_written=True, manifest_body=body)


def write_request_pointer(bucket: Bucket, status: StatusManifest) -> bool:
    """Create ``{root}requests/{request_id}.json`` naming the job of ``status`` (the claim
    does; a resumed run makes sure, in case its claimer died in between). False when
    the request already names a job: an earlier upload under the same request id."""
    if status.request_key is None:
        return False
    entry = parse_inbox_key(status.request_key)
    pointer = RequestPointer(
        job_id=status.job_id,
        status_key=bucket.layout.status_key(status.user_id, status.job_id),
        request_key=status.request_key,
        claimed_at=status.created_at,
    )
    key = bucket.layout.request_key(entry.user_id, entry.request_id)
    try:
        bucket.put_json(key, pointer.model_dump(mode="json"), if_none_match=True)
    except AlreadyExists:
        return False
    return True


def finish_claim(bucket: Bucket, job: ClaimedJob) -> None:
    """Finish the claim's own writes on the job's first run (its claimer may have died
    between any two of them): the request pointer. The manifest's copy is finished as it
    is read (:func:`claimed_manifest`)."""
    latest = job.status.latest
    if latest.runs.epoch <= 1 and not job.pointer_written:
        write_request_pointer(bucket, latest)


def claimed_manifest(bucket: Bucket, job: ClaimedJob, *, conditional_delete: bool) -> bytes:
    """The job's manifest, as its run reads it. When the job has no copy (its claimer
    died before making it), the copy is made now from the inbox, from the very version
    the job is named after, and the inbox entry retired; InvalidManifest when that
    version is gone. The claim that made the job in this process hands its copy over."""
    if job.manifest_body is not None:
        return job.manifest_body
    try:
        body, _ = bucket.get_bytes(job.manifest_key)
    except ObjectNotFound:
        body = _recover_manifest(bucket, job, conditional_delete)
    return body


def _recover_manifest(bucket: Bucket, job: ClaimedJob, conditional_delete: bool) -> bytes:
    """The claimer died before copying the manifest: finish its copy from the inbox."""
    request_key = job.status.latest.request_key
    missing = InvalidManifest(
        "the manifest was replaced or removed while it was being claimed; upload it again"
    )
    if request_key is None:
        raise missing
    try:
        body, etag = bucket.get_bytes(request_key)
    except ObjectNotFound:
        raise missing from None
    if job_id_for(request_key, etag) != job.job_id:
        raise missing
    bucket.put_bytes(job.manifest_key, body, content_type="application/json")
    retire_inbox_copy(bucket, request_key, etag, conditional=conditional_delete)
    return body


def _copy_listed_version(bucket: Bucket, source: str, etag: str, dest: str) -> bool:
    """Copy exactly version ``etag`` of ``source`` to ``dest``; False if it is gone.

    The copy is conditional (``CopySourceIfMatch``), and its ETag is checked as well: a
    store that ignores the condition (moto does) copies the newer version, whose ETag
    differs (a manifest is one part: its ETag is its MD5). That copy is removed again."""
    try:
        copied = bucket.copy_version(source, etag, dest)
    except (PreconditionFailed, ObjectNotFound):
        return False
    if copied.strip('"') != etag.strip('"'):
        bucket.delete(dest)
        return False
    return True


def _retire_duplicate(
    bucket: Bucket, job: ClaimedJob, inbox_key: str, etag: str, policy: ClaimPolicy
) -> None:
    """The job of this exact upload exists: once it holds its own copy of the manifest,
    the inbox copy is a duplicate (a re-upload, or the winner's delete still to come)."""
    if not bucket.exists(job.manifest_key):
        log.debug("claim_lost", inbox_key=inbox_key, job_id=job.job_id)
        return
    if retire_inbox_copy(bucket, inbox_key, etag, conditional=policy.conditional_delete):
        log.info("inbox_duplicate_retired", inbox_key=inbox_key, job_id=job.job_id)

"""The ``active/{user}/{job}`` marker of an unfinished job, and what a listing tells of it.

The scan lists the markers to find the unfinished jobs. A marker also says the job's
state, so a page of unfinished jobs and the summary learn every job's state from the
listing alone (one request a 1,000 jobs) and read only the statuses they show:

- its body is the state as :func:`marker_body` writes it, so its ETag (a one-part
  object's is the MD5 of its body, and a listing carries it) names the state:
  :func:`state_of_etag`;
- its ``LastModified`` is when the job entered that state: pages sort on it;
- its metadata holds the fencing token of the status it was written from (the run's
  epoch, then that status's ``updated_at``).

It follows the status: created at the claim (queued), rewritten by the status store when
a write moves the job to another unfinished state (:func:`follow_status`), put back at a
requeue, deleted when the job is retired. A rewrite is fenced like a status write: it
replaces only a marker written from an older token (a compare-and-swap on the marker's
ETag), so a worker whose lease was taken over never puts an older state back, and it
never creates a marker (a retired job stays retired).

A marker that is behind its status anyway (a write lost to a store error) is harmless:
it decides only which statuses a page reads, and what a page shows is the status itself.

Example::

    state = state_of_etag(listed.etag)  # JobState.RUNNING, or None: read the status
"""

from __future__ import annotations

import hashlib

import structlog

from pipeline.core.errors import AlreadyExists, ObjectNotFound, ReelpipeError
from pipeline.core.keys import active_key
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

CONTENT_TYPE = "application/json"
EPOCH, WRITTEN = "epoch", "written-from"  # metadata: the fencing token


def marker_body(state: JobState) -> bytes:
    """The marker's body for ``state``: always these bytes, so its ETag names the state."""
    return f'{{"state": "{state.value}"}}\n'.encode()


_STATE_OF_ETAG = {
    hashlib.md5(marker_body(state), usedforsecurity=False).hexdigest(): state for state in JobState
}


def state_of_etag(etag: str) -> JobState | None:
    """The state a listed marker says; None for one that says none (written before
    markers held a state: its status tells)."""
    return _STATE_OF_ETAG.get(etag.strip('"'))


def _token(status: StatusManifest) -> dict[str, str]:
    return {EPOCH: str(status.runs.epoch), WRITTEN: f"{status.updated_at.timestamp():.6f}"}


def _token_of(metadata: dict[str, str]) -> tuple[int, float]:
    try:
        return int(metadata[EPOCH]), float(metadata[WRITTEN])
    except (KeyError, ValueError):
        return -1, 0.0  # no token: any status replaces it


def create_marker(bucket: Bucket, status: StatusManifest) -> bool:
    """Create the marker of a job being claimed (``If-None-Match``: a claimer that lost
    leaves the winner's marker alone). False when it was there already."""
    try:
        bucket.put_bytes(
            active_key(status.user_id, status.job_id),
            marker_body(status.state),
            content_type=CONTENT_TYPE,
            if_none_match=True,
            metadata=_token(status),
        )
    except AlreadyExists:
        return False
    return True


def put_marker(bucket: Bucket, user_id: str, job_id: str, state: JobState) -> None:
    """Put a finished job's marker back (a requeue: no worker holds it); without a token,
    so the status store's next write of it replaces it."""
    bucket.put_bytes(active_key(user_id, job_id), marker_body(state), content_type=CONTENT_TYPE)


def follow_status(bucket: Bucket, status: StatusManifest) -> bool:
    """Make the job's marker say the state of ``status``, just written: only if the marker
    is there and was written from an older status. False when it was left as it is.

    A store error is logged, never raised: the status is written, and the marker is for
    people (see the module's docstring)."""
    if status.state.finished:
        return False  # the worker retiring it deletes the marker
    key = active_key(status.user_id, status.job_id)
    token = _token(status)
    try:
        current = bucket.head(key)
        if _token_of(dict(current.metadata)) >= _token_of(token):
            return False
        bucket.put_bytes(
            key,
            marker_body(status.state),
            content_type=CONTENT_TYPE,
            if_match=current.etag,
            metadata=token,
        )
    except ObjectNotFound:
        return False
    except ReelpipeError as exc:  # a lost compare-and-swap included: a newer write won
        log.warning("marker_not_written", job_id=status.job_id, error=str(exc)[:300])
        return False
    return True

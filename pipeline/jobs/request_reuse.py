"""A request id used again: the jobs of its uploads are linked, newest last.

The request pointer ``{root}requests/{request_id}.json`` is written once and keeps
naming the request's first job. An app that uploads a corrected manifest under the
same id gets a new job all the same (its key's ETag names it), so the claim links
the two: the earlier job's status gets ``superseded_by`` and the new one's
``replaces``, and a ``request_id_reused`` line is logged. ``reelpipe status
--request`` follows the links to the newest job (:func:`newest_job`) and says so.

Only the claim of a new upload links (the pointer's create lost): one GET and two
status writes, on that path alone.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from pipeline.core.errors import ObjectNotFound
from pipeline.core.keys import parse_inbox_key
from pipeline.manifests.request_pointer import RequestPointer
from pipeline.manifests.status import StatusManifest
from pipeline.status.store import StatusStore
from pipeline.status.transitions import replacing, superseded
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

MAX_LINKS = 100  # a bound on the walk along a request's jobs, whatever the bucket holds


def link_reused_request(bucket: Bucket, status: StatusManifest) -> str | None:
    """``status``'s job was just claimed, and its request id already names a job: link
    the newest job of that request to this one (both statuses). Returns the job it
    replaces, or None when the pointer names this very job (a resumed claim)."""
    if status.request_key is None:
        return None
    entry = parse_inbox_key(status.request_key)
    try:
        doc = bucket.get_json(bucket.layout.request_key(entry.user_id, entry.request_id))
    except ObjectNotFound:
        return None
    pointer = RequestPointer.model_validate(doc.data)
    if pointer.job_id == status.job_id:
        return None
    earlier = _link_to_the_end(bucket, status, pointer.job_id)
    if earlier is None:
        return None
    StatusStore(bucket, bucket.layout.status_key(status.user_id, status.job_id)).update(
        lambda current: replacing(current, earlier)
    )
    log.warning(
        "request_id_reused",
        request_key=status.request_key,
        job_id=status.job_id,
        replaces=earlier,
        first_job_id=pointer.job_id,
    )
    return earlier


def _link_to_the_end(bucket: Bucket, status: StatusManifest, first: str) -> str | None:
    """Walk ``superseded_by`` from ``first`` to the request's newest job and make it point
    at ``status``'s job (compare-and-swap: a link another claim just wrote is followed)."""
    current = first
    for _ in range(MAX_LINKS):
        if current == status.job_id:
            return None
        store = StatusStore(bucket, bucket.layout.status_key(status.user_id, current))
        try:
            linked = store.update(lambda current: superseded(current, status.job_id))
        except ObjectNotFound:
            return None  # the earlier job's status is gone: nothing to link
        if linked.superseded_by == status.job_id:
            return current
        assert linked.superseded_by is not None
        current = linked.superseded_by
    return None


def newest_job(
    read: Callable[[str], StatusManifest | None], first: StatusManifest
) -> StatusManifest:
    """The last job along ``first``'s ``superseded_by`` links (``read`` gets a status by
    job id; a link to a status that is not there ends the walk)."""
    current = first
    for _ in range(MAX_LINKS):
        if current.superseded_by is None:
            return current
        following = read(current.superseded_by)
        if following is None:
            return current
        current = following
    return current

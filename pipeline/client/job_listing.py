"""A user's jobs, newest first, a page at a time.

One listing of the user's own ``{root}jobs/`` folder finds every job and when it was
created (its accepted manifest is written once, at the claim; S3 lists times to the
second, so jobs created in the same second come in job-id order); then only the
statuses of the page are read. So a page costs ``ceil(objects in the user's jobs / 1000)`` list
requests plus one GET per job shown (more with a state filter, which skips), whatever
else the bucket holds.

Example::

    page = list_jobs(bucket, "alice", limit=20)
    for job in page.jobs: print(job.job_id, job.state)
    more = list_jobs(bucket, "alice", limit=20, cursor=page.next_cursor)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.core.errors import InvalidKey, ObjectNotFound
from pipeline.core.keys import validate_job_id
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.bucket import Bucket

MANIFEST_NAME, STATUS_NAME = "manifest.json", "status.json"
MAX_PAGE = 1000


@dataclass(frozen=True)
class JobPage:
    """One page of a user's jobs, and the cursor of the next (None: the last page)."""

    jobs: list[StatusManifest]
    next_cursor: str | None
    requests: int  # S3 requests this page took


@dataclass(frozen=True)
class _Found:
    job_id: str
    created: datetime


def list_jobs(
    bucket: Bucket,
    user_id: str,
    *,
    state: JobState | None = None,
    since: datetime | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """The user's jobs created at or after ``since``, newest first, at most ``limit``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidKey(f"limit {limit}: between 1 and {MAX_PAGE}")
    prefix = bucket.layout.jobs_prefix(user_id)
    found, listed = _jobs_under(bucket, prefix)
    requests = max(1, -(-listed // 1000))
    ordered = sorted(found, key=lambda f: (f.created, f.job_id), reverse=True)
    if cursor is not None:
        after = _parse_cursor(cursor)
        ordered = [f for f in ordered if (f.created.isoformat(), f.job_id) < after]
    if since is not None:
        ordered = [f for f in ordered if f.created >= since]
    jobs: list[StatusManifest] = []
    last: _Found | None = None
    for item in ordered:
        if len(jobs) == limit:
            break
        last = item
        requests += 1
        try:
            doc = bucket.get_json(bucket.layout.status_key(user_id, item.job_id))
        except ObjectNotFound:
            continue
        status = StatusManifest.model_validate(doc.data)
        if state is None or status.state is state:
            jobs.append(status)
    more = last is not None and last is not ordered[-1]
    next_cursor = f"{last.created.isoformat()}|{last.job_id}" if more and last else None
    return JobPage(jobs, next_cursor, requests)


def _jobs_under(bucket: Bucket, prefix: str) -> tuple[list[_Found], int]:
    """Every job folder under ``prefix`` with its creation time (the manifest's, else the
    status's), and how many objects were listed."""
    created: dict[str, datetime] = {}
    fallback: dict[str, datetime] = {}
    listed = 0
    for item in bucket.list(prefix):
        listed += 1
        job_id, _, rest = item.key[len(prefix) :].partition("/")
        if item.last_modified is None:
            continue
        when = item.last_modified.astimezone(UTC)
        if rest == MANIFEST_NAME:
            created[job_id] = when
        elif rest == STATUS_NAME:
            fallback[job_id] = when
    found = []
    for job_id, when in fallback.items():
        try:
            validate_job_id(job_id)
        except InvalidKey:
            continue
        found.append(_Found(job_id, created.get(job_id, when)))
    return found, listed


def _parse_cursor(cursor: str) -> tuple[str, str]:
    when, sep, job_id = cursor.partition("|")
    try:
        datetime.fromisoformat(when)
        validate_job_id(job_id)
    except (ValueError, InvalidKey):
        raise InvalidKey(f"cursor {cursor!r} is not one a page of jobs returned") from None
    if not sep:
        raise InvalidKey(f"cursor {cursor!r} is not one a page of jobs returned")
    return when, job_id

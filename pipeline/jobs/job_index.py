"""The operations index, written once at each job's end, so the operator's API never lists
the bucket's history.

When a worker retires a finished job it creates ``index/finished/{day}/...`` (with
``If-None-Match``: a job is recorded once, even when two workers retire it) and, only
then, adds the job to that hour's and that day's rollup (compare-and-swap). So:

- a page of all users' jobs lists the ``active/`` markers and the newest days' entries,
  and reads the statuses it shows;
- the summary reads 24 hourly and 7 daily rollups, whatever the history.

Recording never fails a job: a store error is logged, and the job is recorded by the
next worker that retires it, or not at all (the index is for people, not for the jobs).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import structlog

from pipeline.core.errors import (
    AlreadyExists,
    InvalidKey,
    ObjectNotFound,
    PreconditionFailed,
    ReelpipeError,
)
from pipeline.core.keys import finished_index_key, rollup_key
from pipeline.manifests.operations import MAX_STAGE_SAMPLES, Rollup
from pipeline.manifests.status import StatusManifest
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

MAX_CAS_ATTEMPTS = 20


def day_of(when: datetime) -> str:
    """``YYYY-MM-DD`` (UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def hour_of(when: datetime) -> str:
    """``YYYY-MM-DDTHH`` (UTC)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H")


def record_finished(bucket: Bucket, status: StatusManifest) -> bool:
    """Index a finished job and add it to its hour's and day's rollups; False if it was
    indexed before (or the store failed: logged)."""
    if not status.state.finished:
        return False
    ended = status.finished_at or status.updated_at
    at = ended.astimezone(UTC)
    ms = ((at.hour * 60 + at.minute) * 60 + at.second) * 1000 + at.microsecond // 1000
    key = finished_index_key(day_of(at), ms, status.user_id, status.job_id)
    try:
        bucket.put_bytes(key, b"", content_type="text/plain", if_none_match=True)
        for period in (hour_of(at), day_of(at)):
            _add_to_rollup(bucket, period, status)
    except AlreadyExists:
        return False
    except ReelpipeError as exc:
        log.warning("index_failed", job_id=status.job_id, error=str(exc)[:300])
        return False
    return True


def _add_to_rollup(bucket: Bucket, period: str, status: StatusManifest) -> None:
    key = rollup_key(period)
    for attempt in range(MAX_CAS_ATTEMPTS):
        try:
            doc = bucket.get_json(key)
            rollup, etag = Rollup.model_validate(doc.data), doc.etag
        except ObjectNotFound:
            rollup, etag = Rollup(period=period), None
        updated = added(rollup, status)
        try:
            if etag is None:
                bucket.put_json(key, updated.model_dump(mode="json"), if_none_match=True)
            else:
                bucket.put_json(key, updated.model_dump(mode="json"), if_match=etag)
            return
        except (PreconditionFailed, AlreadyExists):
            time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
    log.warning("rollup_gave_up", period=period, job_id=status.job_id)


def added(rollup: Rollup, status: StatusManifest) -> Rollup:
    """``rollup`` with one more finished job."""
    by_state = dict(rollup.by_state)
    by_state[status.state.value] = by_state.get(status.state.value, 0) + 1
    stages = {name: list(samples) for name, samples in rollup.stage_seconds.items()}
    for name, record in status.stages.items():
        if record.duration_s is not None and record.state.value == "succeeded":
            kept = [*stages.get(name.value, []), round(record.duration_s, 3)]
            stages[name.value] = kept[-MAX_STAGE_SAMPLES:]
    return Rollup(
        period=rollup.period,
        jobs=rollup.jobs + 1,
        by_state=by_state,
        gpu_seconds=round(rollup.gpu_seconds + status.gpu_seconds, 3),
        cpu_seconds=round(rollup.cpu_seconds + status.cpu_seconds, 3),
        cost_usd=round(rollup.cost_usd + status.cost_usd, 6),
        stage_seconds=stages,
    )


def reindex(bucket: Bucket) -> tuple[int, int]:
    """Index every finished job not indexed yet (jobs from before the index, or whose
    worker failed to record them): one pass over the bucket's history, for a one-off
    backfill. ``(finished jobs seen, newly indexed)``."""
    seen = added_now = 0
    for item in bucket.list(bucket.layout.users_prefix):
        try:
            bucket.layout.parse_status_key(item.key)
        except InvalidKey:
            continue
        try:
            status = StatusManifest.model_validate(bucket.get_json(item.key).data)
        except (ObjectNotFound, ValueError):
            continue
        if status.state.finished:
            seen += 1
            added_now += record_finished(bucket, status)
    return seen, added_now

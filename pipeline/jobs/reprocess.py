"""Nightly reprocessing: re-run failed jobs and jobs made by an older pipeline.

A job is a candidate when it failed for a reason another run may not repeat
(encoder crash, storage outage, lost worker, internal error), when it failed
under an older pipeline version, or when it succeeded under an older version.
A permanent failure (bad manifest, undecodable clip) under the current version
is not retried: it would fail the same way. Re-runs reuse every stage whose
cache key is unchanged, so they redo only what a new version changed.

Jobs run ``concurrency`` at a time (``REELPIPE_REPROCESS_CONCURRENCY``): a large
nightly backlog is not served one job after another. Running it twice does the
work once: a re-run job is either succeeded or
failed permanently under the current version, and so is no longer a candidate;
the re-queue itself is a compare-and-swap that re-checks the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from pipeline import PIPELINE_VERSION
from pipeline.core.errors import InvalidKey, LeaseHeld, ObjectNotFound, ReelpipeError
from pipeline.core.waiting import wait_all
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.lease import new_lease
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState, LeaseKind, StatusManifest
from pipeline.status.marker import put_marker
from pipeline.status.transitions import requeued
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


class NotACandidate(ReelpipeError):
    """The job changed since it was listed and no longer needs reprocessing."""


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


def reason_to_reprocess(status: StatusManifest, current: str = PIPELINE_VERSION) -> str | None:
    """Why this job should run again, or None."""
    older = _version(status.pipeline_version) < _version(current)
    if status.state is JobState.FAILED:
        kind = status.error.kind if status.error else None
        if kind is not None and kind.transient:
            return f"failed ({kind.value})"
        if older:
            return f"failed under pipeline {status.pipeline_version}"
    if status.state is JobState.SUCCEEDED and older:
        return f"made by pipeline {status.pipeline_version}"
    return None


@dataclass
class Candidate:
    """A job to reprocess and why."""

    user_id: str
    job_id: str
    reason: str


@dataclass
class ReprocessReport:
    """What a reprocess run found and did."""

    candidates: list[Candidate] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_candidates(bucket: Bucket, *, since: datetime | None = None) -> Iterator[Candidate]:
    """Every job whose status says it should run again (lists the whole history)."""
    for item in bucket.list(bucket.layout.users_prefix):
        try:
            job = bucket.layout.parse_status_key(item.key)
        except InvalidKey:
            continue
        if since is not None and item.last_modified is not None and item.last_modified < since:
            continue
        try:
            status = StatusManifest.model_validate(bucket.get_json(item.key).data)
        except (ObjectNotFound, ValueError):
            continue
        reason = reason_to_reprocess(status)
        if reason is not None:
            yield Candidate(job.user_id, job.job_id, reason)


def requeue(bucket: Bucket, job: ClaimedJob, owner: str, lease_ttl_s: float) -> None:
    """Put a finished job back to queued under our lease, if it still qualifies."""

    def back_to_queue(status: StatusManifest) -> StatusManifest:
        if reason_to_reprocess(status) is None:
            raise NotACandidate(f"job {status.job_id} no longer needs reprocessing")
        return requeued(status, new_lease(owner, lease_ttl_s, LeaseKind.CLAIM))

    put_marker(bucket, job.user_id, job.job_id, JobState.QUEUED)
    job.status.update(back_to_queue)


RunJob = Callable[[ClaimedJob], "JobState | None"]


def reprocess(
    bucket: Bucket,
    worker: Worker,
    *,
    dry_run: bool = False,
    max_jobs: int | None = None,
    since: datetime | None = None,
    concurrency: int = 1,
    run_job: RunJob | None = None,
) -> ReprocessReport:
    """Re-run candidates (at most ``max_jobs``), ``concurrency`` at a time; with
    ``dry_run`` only list them.

    Each candidate is re-queued here (a compare-and-swap under ``worker``'s name), then
    run by ``run_job`` on a pool thread: ``worker.run`` by default, a remote
    orchestrator call on Modal (the pool then bounds how many run at once)."""
    report = ReprocessReport()
    run = run_job or _run_with(worker)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="reprocess") as pool:
        running: list[tuple[Candidate, Future[JobState | None]]] = []
        for candidate in find_candidates(bucket, since=since):
            if max_jobs is not None and len(report.candidates) >= max_jobs:
                break
            report.candidates.append(candidate)
            if dry_run:
                continue
            job = ClaimedJob.existing(bucket, candidate.user_id, candidate.job_id)
            try:
                requeue(bucket, job, worker.owner, worker.settings.leases.ttl_s)
            except (NotACandidate, LeaseHeld):
                report.skipped.append(candidate.job_id)
                continue
            running.append((candidate, pool.submit(run, job)))
        wait_all(future for _, future in running)  # in short slices: signals still land
        for candidate, future in running:
            try:
                state = future.result()
            except Exception as exc:  # noqa: BLE001 - one job's crash never stops the night
                log.error("reprocess_crashed", job_id=candidate.job_id, error=str(exc)[:500])
                state = None
            if state is JobState.SUCCEEDED:
                report.succeeded.append(candidate.job_id)
            else:
                report.failed.append(candidate.job_id)
            log.info(
                "reprocessed",
                job_id=candidate.job_id,
                reason=candidate.reason,
                state=state.value if state else None,
            )
    return report


def _run_with(worker: Worker) -> RunJob:
    """Run a job with ``worker`` here; its final state (None: held elsewhere)."""

    def run(job: ClaimedJob) -> JobState | None:
        final = worker.run(job)
        return final.state if final is not None else None

    return run

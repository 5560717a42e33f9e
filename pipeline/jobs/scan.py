"""The scan: claim what is in the inbox, resume what was abandoned.

Manifests are claimed ``claim_concurrency`` at a time (a thread pool): a burst
of uploads is claimed in a few seconds, not one round trip after another. Each
claimed job goes to ``dispatch`` as soon as its claim lands; a dispatch that
runs the job in the calling thread (``reelpipe scan``) keeps the default of 1.

Its requests grow with pending work, never with history: it lists ``inbox/``
(new manifests) and ``active/`` (claimed, unfinished jobs), one request per
1,000 keys each, and reads the status of each active job. Finished jobs live
under ``users/`` and are never listed. An inbox object whose key is not a
valid manifest key is moved to ``rejected/`` with its reason (once), never
listed again.

Example::

    scanner = Scanner(bucket, settings, dispatch=worker.run)
    report = scanner.scan_once()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from pipeline.core.errors import InvalidKey, ObjectNotFound, StorageError, bounded_message
from pipeline.core.keys import ACTIVE_PREFIX, INBOX_PREFIX, parse_active_key, parse_inbox_key
from pipeline.core.settings import Settings
from pipeline.core.waiting import results_of
from pipeline.jobs.claim import ClaimedJob, ClaimPolicy, claim
from pipeline.jobs.inbox import reject_inbox_object
from pipeline.jobs.lease import worker_id
from pipeline.manifests.status import utc_now
from pipeline.storage.bucket import Bucket, ObjectInfo

log = structlog.get_logger(__name__)

Dispatch = Callable[[ClaimedJob], object]


@dataclass
class ScanReport:
    """What one scan found and did."""

    claimed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Scanner:
    """Claims inbox manifests and hands jobs to ``dispatch`` (a worker or a queue)."""

    def __init__(
        self,
        bucket: Bucket,
        settings: Settings,
        dispatch: Dispatch,
        *,
        owner: str | None = None,
        claim_concurrency: int = 1,
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.dispatch = dispatch
        self.owner = owner or worker_id()
        self.claim_concurrency = claim_concurrency

    def claim_key(self, inbox_key: str, listed: ObjectInfo | None = None) -> ClaimedJob | None:
        """Claim one inbox manifest (the ``listed`` version, when a listing saw it) and
        dispatch it (None if lost or not a manifest key)."""
        policy = ClaimPolicy.from_settings(self.settings, self.owner)
        job = claim(self.bucket, inbox_key, policy, listed=listed)
        if job is not None:
            self.dispatch(job)
        return job

    def scan_once(self) -> ScanReport:
        """One pass over ``inbox/`` and ``active/``."""
        report = ScanReport()
        with ThreadPoolExecutor(self.claim_concurrency, thread_name_prefix="claim") as pool:
            pending = []
            for item in self.bucket.list(INBOX_PREFIX):
                try:
                    parse_inbox_key(item.key)
                except InvalidKey as exc:
                    self._reject(item.key, item.etag, str(exc), report)
                    continue
                pending.append(pool.submit(self._claim_entry, item, report))
            # Each entry logs its own failure; none raises.
            # In short slices: the job may run on a claim thread, and SIGTERM must still land.
            claimed_now = {job_id for job_id in results_of(pending) if job_id}
        for item in self.bucket.list(ACTIVE_PREFIX):
            with self._each(item.key, report):
                self._look_at_active(item, report, claimed_now)
        if report.claimed or report.resumed or report.ignored or report.rejected:
            log.info(
                "scan",
                claimed=len(report.claimed),
                resumed=len(report.resumed),
                ignored=len(report.ignored),
                rejected=len(report.rejected),
            )
        return report

    def _claim_entry(self, item: ObjectInfo, report: ScanReport) -> str | None:
        """Claim one listed inbox entry (a pool thread: list appends are atomic); its job id."""
        with self._each(item.key, report):
            job = self.claim_key(item.key, item)
            if job is not None:
                report.claimed.append(item.key)
                return job.job_id
        return None

    def _look_at_active(self, item: ObjectInfo, report: ScanReport, claimed_now: set[str]) -> None:
        """Retire a finished job's marker, or resume a job nobody holds (not one this very
        scan claimed: it was just dispatched)."""
        try:
            ref = parse_active_key(item.key)
        except InvalidKey:
            report.ignored.append(item.key)
            return
        if ref.job_id in claimed_now:
            return
        job = ClaimedJob.existing(self.bucket, ref.user_id, ref.job_id)
        now = utc_now()
        try:
            status = job.status.read()
        except ObjectNotFound:
            # A claimer that died before creating the status: the inbox entry is
            # still there and the next scan claims it again.
            age = (now - item.last_modified).total_seconds() if item.last_modified else 0
            if age > self.settings.leases.ttl_s:
                self.bucket.delete(item.key)
                report.retired.append(item.key)
            return
        if status.state.finished:
            self.bucket.delete(item.key)
            report.retired.append(item.key)
        elif status.lease is None or status.lease.expired(now):
            self.dispatch(job)
            report.resumed.append(job.job_id)

    @contextmanager
    def _each(self, key: str, report: ScanReport) -> Iterator[None]:
        """One inbox or active entry: its failure is logged, and the scan goes on."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - one bad entry never stops the scan
            log.error("scan_entry_failed", key=key, error=bounded_message(str(exc), 500))
            report.failed.append(key)

    def _reject(self, key: str, etag: str, reason: str, report: ScanReport) -> None:
        """Move an object that cannot be a manifest out of the inbox (logged once)."""
        try:
            reject_inbox_object(
                self.bucket, key, etag, reason, self.settings.storage.uses_conditional_delete
            )
        except StorageError as exc:  # e.g. a key S3 cannot copy: listed again next scan
            log.error("inbox_reject_failed", inbox_key=key, error=str(exc))
            report.ignored.append(key)
            return
        report.rejected.append(key)

"""The scan: claim what is in the inbox, resume what was abandoned.

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
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from pipeline.core.errors import InvalidKey, ObjectNotFound, StorageError, bounded_message
from pipeline.core.keys import ACTIVE_PREFIX, INBOX_PREFIX, parse_active_key, parse_inbox_key
from pipeline.core.settings import Settings
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
        self, bucket: Bucket, settings: Settings, dispatch: Dispatch, *, owner: str | None = None
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.dispatch = dispatch
        self.owner = owner or worker_id()

    def claim_key(self, inbox_key: str) -> ClaimedJob | None:
        """Claim one inbox manifest and dispatch it (None if lost or not a manifest key)."""
        job = claim(self.bucket, inbox_key, ClaimPolicy.from_settings(self.settings, self.owner))
        if job is not None:
            self.dispatch(job)
        return job

    def scan_once(self) -> ScanReport:
        """One pass over ``inbox/`` and ``active/``."""
        report = ScanReport()
        for item in self.bucket.list(INBOX_PREFIX):
            try:
                parse_inbox_key(item.key)
            except InvalidKey as exc:
                self._reject(item.key, item.etag, str(exc), report)
                continue
            with self._each(item.key, report):
                if self.claim_key(item.key) is not None:
                    report.claimed.append(item.key)
        for item in self.bucket.list(ACTIVE_PREFIX):
            with self._each(item.key, report):
                self._look_at_active(item, report)
        if report.claimed or report.resumed or report.ignored or report.rejected:
            log.info(
                "scan",
                claimed=len(report.claimed),
                resumed=len(report.resumed),
                ignored=len(report.ignored),
                rejected=len(report.rejected),
            )
        return report

    def _look_at_active(self, item: ObjectInfo, report: ScanReport) -> None:
        """Retire a finished job's marker, or resume a job nobody holds."""
        try:
            ref = parse_active_key(item.key)
        except InvalidKey:
            report.ignored.append(item.key)
            return
        job = ClaimedJob.existing(self.bucket, ref.user_id, ref.job_id)
        now = utc_now()
        try:
            status = job.status.read()
        except ObjectNotFound:
            # A claimer that died before creating the status: the inbox entry is
            # still there and the next scan claims it again.
            age = (now - item.last_modified).total_seconds() if item.last_modified else 0
            if age > self.settings.lease_ttl_s:
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
                self.bucket, key, etag, reason, self.settings.uses_conditional_delete
            )
        except StorageError as exc:  # e.g. a key S3 cannot copy: listed again next scan
            log.error("inbox_reject_failed", inbox_key=key, error=str(exc))
            report.ignored.append(key)
            return
        report.rejected.append(key)

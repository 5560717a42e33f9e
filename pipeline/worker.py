"""A worker runs claimed jobs under a lease, so each runs on one worker at a time.

It takes the job's lease (free, expired, or its own from the claim), keeps it
renewed while the orchestrator runs, and afterwards either retires the job
(removing its ``active/`` marker) or releases the lease for a later resume.
A job whose workers died ``max_job_attempts`` times is failed, not retried.
"""

from __future__ import annotations

import threading

import structlog

from pipeline.claim import ClaimedJob
from pipeline.errors import ObjectNotFound
from pipeline.keys import active_key
from pipeline.lease import LeaseHeld, LeaseKeeper, acquire, release, worker_id
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.orchestrator import Orchestrator, StatusListener
from pipeline.runners.base import Runner
from pipeline.settings import Settings
from pipeline.storage import Bucket

log = structlog.get_logger(__name__)


class Worker:
    """Runs jobs through one orchestrator; ``stop`` makes it hand jobs back between stages."""

    def __init__(
        self,
        bucket: Bucket,
        settings: Settings,
        runner: Runner,
        *,
        owner: str | None = None,
        stop: threading.Event | None = None,
        on_status: StatusListener | None = None,
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.owner = owner or worker_id()
        self.stop = stop or threading.Event()
        self.orchestrator = Orchestrator(bucket, runner, settings, on_status=on_status)

    def run(self, job: ClaimedJob) -> StatusManifest | None:
        """Run ``job`` if its lease can be had; None when another worker holds it."""
        ttl = self.settings.lease_ttl_s
        try:
            status = acquire(job.status, self.owner, ttl)
        except LeaseHeld:
            log.debug("lease_held", job_id=job.job_id)
            return None
        except ObjectNotFound:
            return None  # a claim that died before creating the status: nothing to run
        if status.state.finished:
            self._retire(job)
            return status
        if status.state is JobState.RUNNING and status.attempts >= self.settings.max_job_attempts:
            final = self.orchestrator.abandon(job)
            self._retire(job)
            return final
        with LeaseKeeper(job.status, self.owner, ttl) as keeper:
            final = self.orchestrator.run(
                job, interrupted=lambda: keeper.lost.is_set() or self.stop.is_set()
            )
        if final.state.finished:
            self._retire(job)
        elif not keeper.lost.is_set():
            release(job.status, self.owner)
        return final

    def _retire(self, job: ClaimedJob) -> None:
        self.bucket.delete(active_key(job.user_id, job.job_id))

"""A worker runs claimed jobs under a lease, so each runs on one worker at a time.

It takes the job's lease at a new epoch (the fencing token), runs the
orchestrator through a store fenced by that epoch, keeps the lease renewed
while the work shows signs of life, and afterwards either retires the job
(removing its ``active/`` marker) or hands the lease back for a later resume.

How a run ends decides what is counted (see :mod:`pipeline.jobs.lease`): a stop
(SIGTERM) hands back, an unexpected error is a crash, a lease that expired is
a death. ``max_job_attempts`` deaths fail the job with ``worker_lost``,
``max_job_attempts`` crashes with ``worker_crashed``; hand-backs never fail it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import structlog

from pipeline.core.errors import (
    LeaseHeld,
    LeaseLost,
    ObjectNotFound,
    WorkerCrashed,
    WorkerLost,
    bounded_message,
)
from pipeline.core.keys import active_key
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.job_index import record_finished
from pipeline.jobs.lease import Activity, LeaseKeeper, acquire, hand_back, worker_id
from pipeline.jobs.orchestrator import Orchestrator, StatusListener
from pipeline.jobs.scratch import prune_job_scratch
from pipeline.manifests.status import Fence, StatusManifest
from pipeline.runners.base import Runner
from pipeline.stages.table import Machine
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


class Worker:
    """Runs jobs through one orchestrator; ``stop`` makes it hand jobs back at the next
    frame boundary."""

    def __init__(
        self,
        bucket: Bucket,
        settings: Settings,
        runner: Runner,
        *,
        owner: str | None = None,
        stop: threading.Event | None = None,
        on_status: StatusListener | None = None,
        machine: Machine | None = None,
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.owner = owner or worker_id()
        self.stop = stop or threading.Event()
        self.closing: list[Callable[[], object]] = []  # what :meth:`close` finishes
        self.orchestrator = Orchestrator(
            bucket, runner, settings, on_status=on_status, machine=machine
        )

    def run(self, job: ClaimedJob) -> StatusManifest | None:
        """Run ``job`` if its lease can be had; None when another worker holds it (or this
        worker is stopping, and takes nothing new)."""
        if self.stop.is_set():
            return None
        ttl = self.settings.leases.ttl_s
        try:
            status = acquire(job.status, self.owner, ttl)
        except LeaseHeld:
            log.debug("lease_held", job_id=job.job_id)
            return None
        except ObjectNotFound:
            return None  # a claim that died before creating the status: nothing to run
        if status.state.finished:
            self._retire(job, status)
            return status
        fence = Fence(self.owner, status.runs.epoch)
        job = dataclasses.replace(job, status=job.status.fenced(fence))
        limit = self.settings.leases.max_job_attempts
        if status.runs.deaths >= limit:
            return self._give_up(job, WorkerLost(_too_often(status.runs.deaths, "died", limit)))
        if status.runs.crashes >= limit:
            return self._give_up(
                job, WorkerCrashed(_too_often(status.runs.crashes, "crashed", limit))
            )
        activity = Activity()
        keeper = LeaseKeeper(
            job.status,
            self.owner,
            ttl,
            stall_limit_s=self.settings.leases.stall_limit_s,
            activity=activity,
        )
        crashed = False
        with keeper:
            try:
                final = self.orchestrator.run(
                    job,
                    interrupted=lambda: keeper.lost.is_set() or self.stop.is_set(),
                    activity=activity,
                )
            except LeaseLost:
                return None
            except Exception as exc:
                log.exception(
                    "job_crashed_worker", job_id=job.job_id, error=bounded_message(str(exc))
                )
                crashed = True
                final = job.status.latest
            finally:
                prune_job_scratch(self.settings.scratch_dir, job.job_id)
        if final.state.finished:
            self._retire(job, final)
        elif not keeper.lost.is_set():
            final = hand_back(job.status, self.owner, crashed=crashed)
        return final

    def close(self) -> None:
        """Finish what outlives a job here (callbacks under way); then the worker is done."""
        for finish in self.closing:
            finish()
        self.closing.clear()

    def _give_up(self, job: ClaimedJob, error: WorkerLost | WorkerCrashed) -> StatusManifest:
        final = self.orchestrator.abandon(job, error)
        self._retire(job, final)
        return final

    def _retire(self, job: ClaimedJob, final: StatusManifest) -> None:
        """A finished job leaves the active index for the finished one (recorded once)."""
        record_finished(self.bucket, final)
        self.bucket.delete(active_key(job.user_id, job.job_id))


def _too_often(times: int, what: str, limit: int) -> str:
    return (
        f"the job's worker {what} {times} times (limit {limit}, REELPIPE_MAX_JOB_ATTEMPTS): "
        + (
            "killed, out of memory or cut off from the store each time"
            if what == "died"
            else "an unexpected error each time; see the worker's log"
        )
        + "; giving up"
    )

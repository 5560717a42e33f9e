"""Leases: one worker at a time runs a job, a dead worker is noticed, a stale one is fenced.

The lease lives in the status manifest (owner, expiry) and every change to it
is a compare-and-swap, so two workers can never both hold it. Each take-over
increases the job's epoch (``runs.epoch``), the fencing token: the worker's
status store checks owner and epoch inside every compare-and-swap, so a worker
that was paused past its lease and wakes up after another took the job over
writes nothing (see :class:`~pipeline.status.store.Fence`).

How a run ends is counted, because only some endings are the job's fault:

- a lease that expired without being handed back is a **death** (killed, out of
  memory, partitioned); ``max_job_attempts`` deaths fail the job (``worker_lost``);
- a graceful stop (SIGTERM, a rolling deploy) hands the lease back: a
  **hand-back**, never held against the job;
- an unexpected error out of the run is a **crash**, counted by the worker.

The holder renews the lease from a background thread while the work shows
signs of life (:class:`Activity`); work that makes no progress for longer
than the stall limit stops being renewed, so another worker takes it over.

Example::

    status = acquire(job.status, owner, ttl_s=60)
    store = job.status.fenced(Fence(owner, status.runs.epoch))
    with LeaseKeeper(store, owner, ttl_s=60, stall_limit_s=300) as keeper:
        orchestrator.run(job, activity=keeper.activity, interrupted=keeper.lost.is_set)
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from types import TracebackType

import structlog

from pipeline.core.errors import LeaseHeld, LeaseLost
from pipeline.manifests.status import (
    Lease,
    LeaseKind,
    Progress,
    StatusManifest,
    utc_now,
)
from pipeline.status.store import StatusStore
from pipeline.status.transitions import handed_back, leased, renewed

log = structlog.get_logger(__name__)

__all__ = [
    "Activity",
    "LeaseHeld",
    "LeaseKeeper",
    "LeaseLost",
    "acquire",
    "hand_back",
    "new_lease",
    "renew",
    "worker_id",
]


def worker_id() -> str:
    """A lease owner name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def new_lease(owner: str, ttl_s: float, kind: LeaseKind = LeaseKind.RUN) -> Lease:
    """A lease held by ``owner`` for ``ttl_s`` from now."""
    return Lease(owner=owner, expires_at=utc_now() + timedelta(seconds=ttl_s), kind=kind)


def acquire(store: StatusStore, owner: str, ttl_s: float) -> StatusManifest:
    """Take the lease (free, expired, or a claim's) at a new epoch; LeaseHeld otherwise.

    A run lease found expired was never handed back: its worker died, and the
    death is counted here. A finished job is returned as it is, unwritten.
    """

    def take(status: StatusManifest) -> StatusManifest:
        if status.state.finished:
            return status  # nothing to run, and a finished status is never written again
        lease = status.lease
        now = utc_now()
        died = False
        if lease is not None and lease.kind is LeaseKind.RUN:
            if not lease.expired(now):
                raise LeaseHeld(f"job {status.job_id} is being run by {lease.owner}")
            died = not status.state.finished
        if died:
            log.warning("worker_died", job_id=status.job_id, previous_owner=lease and lease.owner)
        return leased(status, new_lease(owner, ttl_s), died=died)

    return store.update(take)


def renew(store: StatusStore, owner: str, ttl_s: float) -> StatusManifest:
    """Extend our lease; LeaseLost if it is not ours any more (the store's fence checks
    the epoch too)."""

    def extend(status: StatusManifest) -> StatusManifest:
        if status.lease is None or status.lease.owner != owner:
            holder = status.lease.owner if status.lease else "nobody"
            raise LeaseLost(f"job {status.job_id}: the lease is now held by {holder}")
        return renewed(status, new_lease(owner, ttl_s))

    return store.update(extend)


def hand_back(store: StatusStore, owner: str, *, crashed: bool = False) -> StatusManifest:
    """Give the lease up so another worker may resume at once (counted as a hand-back,
    or as a crash). Nothing is written when the lease is no longer ours."""

    def drop(status: StatusManifest) -> StatusManifest:
        if status.lease is None or status.lease.owner != owner or status.state.finished:
            return status
        return handed_back(status, crashed=crashed)

    try:
        return store.update(drop)
    except LeaseLost:
        return store.latest


class Activity:
    """When the work last showed a sign of life (a frame, a status write)."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._progress: Progress | None = None

    def beat(self) -> None:
        """The work moved just now."""
        self._last = time.monotonic()

    def observe(self, status: StatusManifest) -> None:
        """Progress written by someone else (a remote stage) counts as a beat."""
        if status.progress != self._progress:
            self._progress = status.progress
            self.beat()

    def idle_s(self) -> float:
        """Seconds since the last sign of life."""
        return time.monotonic() - self._last


class LeaseKeeper:
    """Renews a held lease every ``ttl_s / 3`` while the work is alive.

    ``lost`` is set when the lease was taken over (stop at once, write nothing)
    or when the work stalled for ``stall_limit_s`` (renewal stops so the lease
    expires and another worker resumes the job).
    """

    def __init__(
        self,
        store: StatusStore,
        owner: str,
        ttl_s: float,
        *,
        stall_limit_s: float | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.stall_limit_s = stall_limit_s
        self.activity = activity or Activity()
        self.lost = threading.Event()
        self.stalled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="lease")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            idle = self.activity.idle_s()
            if self.stall_limit_s is not None and idle > self.stall_limit_s:
                log.error("work_stalled", idle_s=round(idle, 1), limit_s=self.stall_limit_s)
                self.stalled.set()
                self.lost.set()
                return
            try:
                status = renew(self.store, self.owner, self.ttl_s)
            except LeaseLost as exc:
                log.warning("lease_lost", error=str(exc))
                self.lost.set()
                return
            except Exception as exc:  # noqa: BLE001 - a failed renewal is retried next tick
                log.warning("lease_renew_failed", error=str(exc))
                continue
            self.activity.observe(status)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

"""Leases: one worker at a time runs a job, and a dead worker is noticed.

The lease lives in the status manifest (owner, expiry) and every change to it
is a compare-and-swap, so two workers can never both hold it. The holder
renews it from a background thread; when a worker is killed its lease simply
expires and the next scan resumes the job.

Example::

    with LeaseKeeper(store, owner="host:123", ttl_s=60) as keeper:
        orchestrator.run(job)
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import timedelta
from types import TracebackType

import structlog

from pipeline.errors import ConflictError
from pipeline.manifests.status import Lease, LeaseKind, StatusManifest, utc_now
from pipeline.status_store import StatusStore

log = structlog.get_logger(__name__)


class LeaseHeld(ConflictError):
    """Another live worker holds the job's lease."""


class LeaseLost(ConflictError):
    """This worker's lease expired and another worker took the job."""


def worker_id() -> str:
    """A lease owner name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def new_lease(owner: str, ttl_s: float, kind: LeaseKind = LeaseKind.RUN) -> Lease:
    """A lease held by ``owner`` for ``ttl_s`` from now."""
    return Lease(owner=owner, expires_at=utc_now() + timedelta(seconds=ttl_s), kind=kind)


def acquire(store: StatusStore, owner: str, ttl_s: float) -> StatusManifest:
    """Take the lease (free, expired, a claim's, or already ours); LeaseHeld otherwise."""

    def take(status: StatusManifest) -> StatusManifest:
        lease = status.lease
        if (
            lease is not None
            and lease.kind is LeaseKind.RUN
            and lease.owner != owner
            and not lease.expired(utc_now())
        ):
            raise LeaseHeld(f"job {status.job_id} is being run by {lease.owner}")
        return status.model_copy(update={"lease": new_lease(owner, ttl_s)})

    return store.update(take)


def renew(store: StatusStore, owner: str, ttl_s: float) -> StatusManifest:
    """Extend our lease; LeaseLost if someone else holds it now."""

    def extend(status: StatusManifest) -> StatusManifest:
        if status.lease is None or status.lease.owner != owner:
            holder = status.lease.owner if status.lease else "nobody"
            raise LeaseLost(f"job {status.job_id}: the lease is now held by {holder}")
        return status.model_copy(update={"lease": new_lease(owner, ttl_s)})

    return store.update(extend)


def release(store: StatusStore, owner: str) -> None:
    """Give the lease up (if still ours) so another worker may resume at once."""

    def drop(status: StatusManifest) -> StatusManifest:
        if status.lease is None or status.lease.owner != owner:
            return status
        return status.model_copy(update={"lease": None})

    store.update(drop)


class LeaseKeeper:
    """Renews a held lease every ``ttl_s / 3`` until the block ends."""

    def __init__(self, store: StatusStore, owner: str, ttl_s: float) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="lease")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                renew(self.store, self.owner, self.ttl_s)
            except LeaseLost as exc:
                log.warning("lease_lost", error=str(exc))
                self.lost.set()
                return
            except Exception as exc:  # noqa: BLE001 - a failed renewal is retried next tick
                log.warning("lease_renew_failed", error=str(exc))

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

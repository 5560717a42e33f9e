"""Compare-and-swap writes of one job's status manifest.

Every write is ``If-Match: <etag>`` of the version it was built from; on a
conflict the store re-reads and re-applies the change, so concurrent writers
(a worker's progress, a scan, the nightly job) never lose each other's updates.
Creation is ``If-None-Match: *``: exactly one claimer creates a status.

A write that moves the job to another unfinished state also moves its ``active/`` marker
(:mod:`pipeline.status.marker`: fenced in its turn), so listings of unfinished jobs know
their states without reading them.

A store held by a running worker is *fenced* (Kleppmann's fencing token): the
lease owner and epoch it took the job with are checked against the version
each write replaces, inside the compare-and-swap. A worker whose lease was
taken over (paused past its TTL, partitioned) gets :class:`LeaseLost` and
writes nothing, however late it wakes up.

Example::

    store = StatusStore(bucket, status_key(user, job))
    store.update(lambda s: progressed(s, Progress(percent=50.0, message="half way")))
    fenced = store.fenced(Fence(owner="host:1:ab12", epoch=3))
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from pipeline.core.errors import ConflictError, JobCancelled, PreconditionFailed
from pipeline.manifests.status import Fence, StatusManifest, utc_now
from pipeline.status.marker import follow_status
from pipeline.storage.bucket import Bucket

Mutation = Callable[[StatusManifest], StatusManifest]


class StatusStore:
    """The status manifest at ``key``, read and written optimistically.

    A mutation that returns its input unchanged writes nothing.
    """

    def __init__(
        self, bucket: Bucket, key: str, *, max_attempts: int = 20, fence: Fence | None = None
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.max_attempts = max_attempts
        self.fence = fence
        self._current: StatusManifest | None = None
        self._etag: str | None = None
        self._lock = threading.Lock()  # a worker's progress and its lease renewals share a store

    def fenced(self, fence: Fence) -> StatusStore:
        """A store for the same status whose every write checks ``fence`` first."""
        store = StatusStore(self.bucket, self.key, max_attempts=self.max_attempts, fence=fence)
        store._current, store._etag = self._current, self._etag
        return store

    def create(self, status: StatusManifest) -> StatusManifest:
        """Create the status; AlreadyExists if another claimer was first."""
        self._etag = self.bucket.put_json(
            self.key, status.model_dump(mode="json"), if_none_match=True
        )
        self._current = status
        return status

    def read(self) -> StatusManifest:
        """The current status from the bucket."""
        doc = self.bucket.get_json(self.key)
        self._current = StatusManifest.model_validate(doc.data)
        self._etag = doc.etag
        return self._current

    @property
    def latest(self) -> StatusManifest:
        """The last status this store read or wrote (read now if none yet)."""
        return self._current if self._current is not None else self.read()

    def check_cancel(self) -> None:
        """JobCancelled if the status last seen carries a cancel request (no request made:
        a cancel changes the status, so the next write of progress meets it and re-reads)."""
        current = self._current
        if current is not None and current.cancel_requested_at is not None:
            raise JobCancelled(f"cancel requested at {current.cancel_requested_at.isoformat()}")

    def update(self, mutate: Mutation) -> StatusManifest:
        """Apply ``mutate`` to the latest status and write it; retried on conflict.

        ``mutate`` may raise to abort (nothing is written).
        """
        with self._lock:
            return self._update(mutate)

    def _update(self, mutate: Mutation) -> StatusManifest:
        for attempt in range(self.max_attempts):
            if self._current is None or self._etag is None:
                self.read()
            assert self._current is not None and self._etag is not None
            if self.fence is not None:
                self.fence.check(self._current)
            changed = mutate(self._current)
            if changed is self._current:
                return changed
            updated = changed.model_copy(update={"updated_at": utc_now()})
            try:
                self._etag = self.bucket.put_json(
                    self.key, updated.model_dump(mode="json"), if_match=self._etag
                )
            except PreconditionFailed:
                self._current = self._etag = None
                time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
                continue
            previous, self._current = self._current, updated
            if updated.state is not previous.state:
                follow_status(self.bucket, updated)  # after the (fenced) write, never before
            return updated
        raise ConflictError(f"status {self.key!r}: gave up after {self.max_attempts} conflicts")

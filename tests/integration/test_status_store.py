"""Status writes are compare-and-swap: racing writers never lose an update."""

from __future__ import annotations

import threading

import pytest

from pipeline.core.errors import AlreadyExists
from pipeline.manifests.status import StatusManifest
from pipeline.status.store import StatusStore
from pipeline.storage.bucket import Bucket

KEY = "users/u/jobs/00000000000000000000/status.json"


def fresh_status() -> StatusManifest:
    return StatusManifest(job_id="0" * 20, user_id="u", manifest_key="m")


def test_only_one_create_wins(bucket: Bucket) -> None:
    """The claim is the create: a second create is refused."""
    StatusStore(bucket, KEY).create(fresh_status())
    with pytest.raises(AlreadyExists):
        StatusStore(bucket, KEY).create(fresh_status())


def test_two_racing_writers_lose_no_update(bucket: Bucket) -> None:
    """Two stores incrementing the same counter 100 times each end at 200."""
    StatusStore(bucket, KEY).create(fresh_status())

    def writer() -> None:
        store = StatusStore(bucket, KEY, max_attempts=200)
        for _ in range(100):
            store.update(lambda s: s.model_copy(update={"attempts": s.attempts + 1}))

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert StatusStore(bucket, KEY).read().attempts == 200

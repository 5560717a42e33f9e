"""Leases and fencing against a real S3 API: stale writers are refused, runs are counted by
how they ended, stalled work stops renewing, poison jobs end."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import ErrorKind, LeaseHeld, LeaseLost
from pipeline.core.keys import DEFAULT_LAYOUT
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.lease import Activity, LeaseKeeper, acquire, hand_back
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import Fence, JobState, LeaseKind, StatusManifest, utc_now
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


def claimed(bucket: Bucket, manifest: dict[str, Any] | None = None) -> ClaimedJob:
    inbox = submit_manifest(bucket, "u", manifest or job_manifest(framing={}))
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    return job


def expire_lease(job: ClaimedJob) -> None:
    """What a worker that died leaves behind: a run lease whose expiry has passed."""

    def expired(s: StatusManifest) -> StatusManifest:
        assert s.lease is not None
        lease = s.lease.model_copy(update={"expires_at": utc_now() - timedelta(seconds=1)})
        return s.model_copy(update={"lease": lease})

    job.status.update(expired)


def test_a_write_from_an_older_epoch_is_refused_inside_the_compare_and_swap(
    bucket: Bucket,
) -> None:
    """Worker A's lease expires, B takes the job (epoch 2): every write A tries afterwards,
    progress or final, raises LeaseLost and leaves the status as B wrote it."""
    job = claimed(bucket)
    first = acquire(job.status, "A", 60)
    stale = job.status.fenced(Fence("A", first.runs.epoch))
    stale.read()
    expire_lease(job)
    taken = acquire(ClaimedJob.existing(bucket, "u", job.job_id).status, "B", 60)
    assert taken.runs.epoch == first.runs.epoch + 1 and taken.runs.deaths == 1
    before = bucket.head(job.status.key).etag
    with pytest.raises(LeaseLost):
        stale.update(lambda s: s.model_copy(update={"state": JobState.SUCCEEDED}))
    assert bucket.head(job.status.key).etag == before


def test_a_released_lease_fences_its_old_holder_too(bucket: Bucket) -> None:
    """After a hand-back the lease is nobody's: the worker that gave it up cannot write."""
    job = claimed(bucket)
    status = acquire(job.status, "A", 60)
    fenced = job.status.fenced(Fence("A", status.runs.epoch))
    fenced.update(lambda s: s.model_copy(update={"state": JobState.RUNNING}))
    handed = hand_back(fenced, "A")
    assert handed.lease is None and handed.runs.handbacks == 1
    with pytest.raises(LeaseLost):
        fenced.update(lambda s: s.model_copy(update={"attempts": 9}))


def test_an_unchanged_mutation_writes_nothing(bucket: Bucket) -> None:
    """A mutation that returns its input (nothing to do) does not touch the object."""
    job = claimed(bucket)
    before = bucket.head(job.status.key).etag
    job.status.update(lambda s: s)
    assert bucket.head(job.status.key).etag == before


def test_a_live_lease_cannot_be_taken(bucket: Bucket) -> None:
    job = claimed(bucket)
    acquire(job.status, "A", 60)
    with pytest.raises(LeaseHeld):
        acquire(ClaimedJob.existing(bucket, "u", job.job_id).status, "B", 60)


def test_work_that_stalls_stops_renewing_its_lease(bucket: Bucket) -> None:
    """No sign of life for longer than the stall limit: the keeper stops renewing and says
    so, and the lease runs out for another worker to take."""
    job = claimed(bucket)
    status = acquire(job.status, "A", 0.6)
    store = job.status.fenced(Fence("A", status.runs.epoch))
    with LeaseKeeper(store, "A", 0.6, stall_limit_s=0.5, activity=Activity()) as keeper:
        assert keeper.lost.wait(5)
        assert keeper.stalled.is_set()
    lease = store.read().lease
    assert lease is not None
    time.sleep(max(0.0, (lease.expires_at - utc_now()).total_seconds()) + 0.05)
    assert store.read().lease == lease  # no renewal after the stall
    taken = acquire(ClaimedJob.existing(bucket, "u", job.job_id).status, "B", 60)
    assert taken.lease is not None and taken.lease.owner == "B"


def test_work_that_moves_keeps_its_lease(bucket: Bucket) -> None:
    """Beats more often than the stall limit keep the lease renewed."""
    job = claimed(bucket)
    status = acquire(job.status, "A", 0.6)
    store = job.status.fenced(Fence("A", status.runs.epoch))
    activity = Activity()
    with LeaseKeeper(store, "A", 0.6, stall_limit_s=0.5, activity=activity) as keeper:
        for _ in range(15):
            activity.beat()
            time.sleep(0.1)
        assert not keeper.lost.is_set()
    lease = store.read().lease
    assert lease is not None and lease.expires_at > utc_now()


def test_a_job_whose_workers_keep_dying_fails_as_worker_lost(
    bucket: Bucket, settings: Settings
) -> None:
    """Three expired run leases (three deaths): the next worker fails it with worker_lost."""
    job = claimed(bucket)
    for owner in ("A", "B", "C"):
        acquire(ClaimedJob.existing(bucket, "u", job.job_id).status, owner, 60)
        expire_lease(job)
    worker = Worker(bucket, settings, LocalRunner(bucket, settings), owner="D")
    final = worker.run(ClaimedJob.existing(bucket, "u", job.job_id))
    assert final is not None and final.state is JobState.FAILED and final.error is not None
    assert final.error.kind is ErrorKind.WORKER_LOST and "died 3 times" in final.error.message
    assert final.lease is None


class Crashing:
    """A status listener that raises, as a bug in a collaborator would."""

    def __call__(self, status: StatusManifest) -> None:
        raise RuntimeError("listener bug")


def test_a_job_that_crashes_its_worker_three_times_fails_as_worker_crashed(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """An unexpected error out of the run is a crash: counted, the lease handed back, and
    after three the job fails with worker_crashed instead of being dispatched forever."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    relative = upload_clip(bucket, "u", clip)
    job = claimed(bucket, {"input_key": relative, **job_manifest(framing={})})
    for crash in range(1, 4):
        crashing = Worker(bucket, settings, LocalRunner(bucket, settings), on_status=Crashing())
        status = crashing.run(ClaimedJob.existing(bucket, "u", job.job_id))
        assert status is not None and status.runs.crashes == crash and status.lease is None
    final = Worker(bucket, settings, LocalRunner(bucket, settings)).run(
        ClaimedJob.existing(bucket, "u", job.job_id)
    )
    assert final is not None and final.state is JobState.FAILED and final.error is not None
    assert final.error.kind is ErrorKind.WORKER_CRASHED
    assert not bucket.exists(f"active/u/{job.job_id}")


def test_a_corrupt_status_does_not_stop_the_scan(bucket: Bucket, settings: Settings) -> None:
    """One unreadable status.json is logged; the other active jobs are still looked at."""
    broken = claimed(bucket)
    bucket.put_bytes(DEFAULT_LAYOUT.status_key("u", broken.job_id), b"{not json")
    fine = claimed(bucket)
    expire_lease(fine)  # a claim lease that ran out: the scan resumes it
    dispatched: list[str] = []
    report = Scanner(bucket, settings, lambda j: dispatched.append(j.job_id)).scan_once()
    assert report.failed == [f"active/u/{broken.job_id}"]
    assert dispatched == [fine.job_id]


def test_a_stopping_worker_takes_nothing_new(bucket: Bucket, settings: Settings) -> None:
    job = claimed(bucket)
    stop = threading.Event()
    stop.set()
    worker = Worker(bucket, settings, LocalRunner(bucket, settings), stop=stop)
    before = bucket.head(job.status.key).etag
    assert worker.run(job) is None
    assert bucket.head(job.status.key).etag == before


def test_run_counts_are_in_the_status_schema(bucket: Bucket) -> None:
    """Apps see epoch, deaths, crashes and hand-backs in status.json."""
    job = claimed(bucket)
    doc = json.loads(bucket.get_bytes(job.status.key)[0])
    assert doc["runs"] == {"epoch": 0, "deaths": 0, "crashes": 0, "handbacks": 0}
    assert doc["warnings"] == []
    assert doc["lease"]["kind"] == LeaseKind.CLAIM.value


def test_a_job_waiting_for_its_clip_is_released_without_counting(
    bucket: Bucket, settings: Settings
) -> None:
    """Each scan that finds the clip still missing releases the lease; that is waiting,
    not a hand-back, a death or a crash."""
    job = claimed(bucket, {"input_key": "clips/later.mp4", **job_manifest(framing={})})
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    for _ in range(3):
        status = worker.run(ClaimedJob.existing(bucket, "u", job.job_id))
        assert status is not None and status.state is JobState.WAITING_FOR_INPUT
    assert status.lease is None
    assert status.runs.model_dump() == {"epoch": 3, "deaths": 0, "crashes": 0, "handbacks": 0}


def test_a_late_dispatch_never_writes_a_finished_status(bucket: Bucket, settings: Settings) -> None:
    """A scan saw the job running with an expired lease, but it finished meanwhile: the
    worker it dispatched retires the job without touching status.json."""
    job = claimed(bucket)
    job.status.update(lambda s: s.model_copy(update={"state": JobState.SUCCEEDED, "lease": None}))
    before = bucket.head(job.status.key).etag
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    final = worker.run(ClaimedJob.existing(bucket, "u", job.job_id))
    assert final is not None and final.state is JobState.SUCCEEDED
    assert bucket.head(job.status.key).etag == before
    assert not bucket.exists(f"active/u/{job.job_id}")

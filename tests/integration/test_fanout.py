"""Bursts and the nightly backlog: claims and re-runs go out with bounded concurrency,
each job exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pipeline.client.submit import submit_manifest
from pipeline.core.errors import ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.reprocess import reprocess
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import ErrorInfo, JobState
from pipeline.runners.local import LocalRunner
from pipeline.status.transitions import failed
from pipeline.storage.bucket import Bucket, ObjectInfo
from tests.factories import job_manifest
from tests.integration.test_scan import RequestCounter


class Gauge:
    """How many calls are inside at once, at most."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def test_a_burst_is_claimed_concurrently_each_job_once(bucket: Bucket, settings: Settings) -> None:
    """120 manifests, 8 claim threads: all claimed by one scan, each dispatched once, at
    most 8 claims in flight, 5 S3 requests a claim (the listed version copied by the
    store), and the job's copy is the manifest that was uploaded."""
    for i in range(120):
        submit_manifest(bucket, "u", job_manifest(framing={}), request_id=f"burst-{i}")
    gauge = Gauge()
    dispatched: list[str] = []
    lock = threading.Lock()

    def dispatch(job: ClaimedJob) -> None:
        with lock:
            dispatched.append(job.job_id)

    scanner = Scanner(bucket, settings, dispatch, owner="burst", claim_concurrency=8)
    original = scanner.claim_key

    def gauged(key: str, listed: ObjectInfo | None = None) -> ClaimedJob | None:
        with gauge:
            time.sleep(0.002)  # hold the slot a moment, as a slower store would
            return original(key, listed)

    scanner.claim_key = gauged  # type: ignore[method-assign]
    counter = RequestCounter(bucket)
    report = scanner.scan_once()
    assert len(report.claimed) == 120 and not report.failed
    assert len(dispatched) == len(set(dispatched)) == 120
    assert 1 < gauge.peak <= 8
    claims = len(counter.operations) - counter.operations.count("ListObjectsV2")
    # PUT marker, PUT status, PUT request pointer, COPY manifest, DELETE inbox
    assert claims == 120 * 5
    some = ClaimedJob.existing(bucket, "u", dispatched[0])
    assert bucket.get_json(some.manifest_key).data == job_manifest(framing={})
    again = scanner.scan_once()
    assert again.claimed == []  # nothing is claimed twice


def test_two_concurrent_scans_claim_each_manifest_once(bucket: Bucket, settings: Settings) -> None:
    """Two scanners racing over the same burst: every job goes to exactly one of them."""
    for i in range(60):
        submit_manifest(bucket, "u", job_manifest(framing={}), request_id=f"race-{i}")
    got: list[str] = []
    lock = threading.Lock()

    def dispatch(job: ClaimedJob) -> None:
        with lock:
            got.append(job.job_id)

    scanners = [
        Scanner(bucket, settings, dispatch, owner=f"s{n}", claim_concurrency=6) for n in range(2)
    ]
    threads = [threading.Thread(target=s.scan_once) for s in scanners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 60


def fail_transiently(bucket: Bucket, count: int) -> list[str]:
    """``count`` claimed jobs marked failed by an encoder crash (reprocess candidates)."""
    for i in range(count):
        submit_manifest(bucket, "u", job_manifest(framing={}), request_id=f"night-{i}")
    claimed: list[ClaimedJob] = []
    Scanner(bucket, Settings(), claimed.append, owner="night").scan_once()
    error = ErrorInfo(kind=ErrorKind.ENCODER_FAILED, message="x264 segfaulted")
    for job in claimed:
        job.status.update(lambda s: failed(s, error=error, stage=None, duration_s=0.0))
    return [job.job_id for job in claimed]


def test_the_nightly_run_is_concurrent_bounded_and_idempotent(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """9 failed jobs, 3 at a time (never more), each run once; a second night finds none."""
    ids = fail_transiently(bucket, 9)
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    gauge = Gauge()
    ran: list[str] = []

    def run_job(job: ClaimedJob) -> JobState | None:
        with gauge:
            ran.append(job.job_id)
            time.sleep(0.1)  # a remote orchestrator's call takes a while
            return JobState.SUCCEEDED

    report = reprocess(bucket, worker, concurrency=3, run_job=run_job)
    assert sorted(report.succeeded) == sorted(ids) == sorted(ran)
    assert gauge.peak == 3
    # The jobs were re-queued under the night's lease before they ran:
    assert all(
        ClaimedJob.existing(bucket, "u", i).status.read().state is JobState.QUEUED for i in ids
    )
    second = reprocess(bucket, worker, concurrency=3, run_job=run_job)
    assert second.succeeded == [] and second.skipped == [] and sorted(ran) == sorted(ids)

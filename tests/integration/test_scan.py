"""The scan: claims the inbox, resumes abandoned jobs, and stays flat with history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.keys import active_key
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.lease import Lease
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState, utc_now
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip, seed_history

PER_CLAIM = 4  # PUT active marker, PUT status, COPY the listed manifest, DELETE inbox
PER_ACTIVE = 1  # GET status (of a job claimed before this scan)


class RequestCounter:
    """Counts the HTTP requests a boto3 client sends, by operation."""

    def __init__(self, bucket: Bucket) -> None:
        self.operations: list[str] = []
        bucket.client.meta.events.register("before-send.s3", self._count)

    def _count(self, request: Any, **kwargs: Any) -> None:
        self.operations.append(kwargs.get("event_name", "").rsplit(".", 1)[-1])

    def reset(self) -> None:
        self.operations.clear()


def pending(bucket: Bucket, count: int, tag: str) -> list[str]:
    return [
        submit_manifest(bucket, "u", job_manifest(framing={}), request_id=f"{tag}-{i}").inbox_key
        for i in range(count)
    ]


def test_scan_requests_do_not_grow_with_history(bucket: Bucket, settings: Settings) -> None:
    """10 pending with no history and 10 pending with 5,000 finished jobs cost the same."""
    claimed: list[ClaimedJob] = []
    scanner = Scanner(bucket, settings, claimed.append, owner="scan")
    counter = RequestCounter(bucket)
    pending(bucket, 10, "before")
    counter.reset()
    scanner.scan_once()
    without_history = len(counter.operations)
    for job in claimed:  # finish them, as workers would
        bucket.delete(active_key(job.user_id, job.job_id))
    seed_history(settings.storage.bucket, 5000)
    pending(bucket, 10, "after")
    counter.reset()
    report = scanner.scan_once()
    with_history = len(counter.operations)
    assert len(report.claimed) == 10
    assert with_history == without_history
    per_job_work = 10 * PER_CLAIM  # this scan's own claims are not read back
    assert with_history - per_job_work <= 20
    assert counter.operations.count("ListObjectsV2") == 2


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("inbox/readme.txt", "not an inbox key"),
        ("inbox/u/sub/x.json", "not an inbox key"),
        ("inbox/bad user!/r.json", "user id"),
        (f"inbox/u/{'r' * 65}.json", "request id"),
    ],
)
def test_scan_moves_invalid_inbox_keys_aside_once(
    bucket: Bucket, settings: Settings, key: str, why: str
) -> None:
    """An inbox object that is not a manifest key goes to rejected/ with its reason, once;
    the next scan does not see it, and the valid manifest beside it is claimed."""
    bucket.put_bytes(key, b"hi")
    good = pending(bucket, 1, "ok")[0]
    claimed: list[ClaimedJob] = []
    scanner = Scanner(bucket, settings, claimed.append)
    with capture_logs() as logs:
        report = scanner.scan_once()
    assert report.claimed == [good]
    assert report.rejected == [key]
    assert not bucket.exists(key)
    assert bucket.get_bytes(f"rejected/{key}")[0] == b"hi"
    reason = bucket.get_json(f"rejected/{key}.reason.json").data
    assert reason["key"] == key and why in reason["reason"]
    assert [e["inbox_key"] for e in logs if e["event"] == "inbox_rejected"] == [key]
    again = scanner.scan_once()
    assert again.rejected == [] and again.ignored == []


def test_scan_resumes_jobs_whose_lease_expired(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A job claimed by a worker that vanished is resumed once its lease runs out."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    relative = upload_clip(bucket, "u", clip)
    submit_manifest(bucket, "u", {"input_key": relative, **job_manifest(framing={})})
    dead: list[ClaimedJob] = []
    Scanner(bucket, settings, dead.append, owner="dead-worker").scan_once()
    (job,) = dead
    worker = Worker(bucket, settings, LocalRunner(bucket, settings), owner="alive")
    second = Scanner(bucket, settings, worker.run, owner="alive")
    assert second.scan_once().resumed == []  # the lease is still valid
    expired = Lease(owner="dead-worker", expires_at=utc_now() - timedelta(seconds=1))
    job.status.update(lambda s: s.model_copy(update={"lease": expired}))
    report = second.scan_once()
    assert report.resumed == [job.job_id]
    status = job.status.read()
    assert status.state is JobState.SUCCEEDED and status.lease is None
    assert not bucket.exists(active_key("u", job.job_id))
    assert second.scan_once().resumed == []


def test_scan_retires_markers_of_finished_jobs(bucket: Bucket, settings: Settings) -> None:
    """A stale active marker of a finished job is removed, not resumed."""
    pending(bucket, 1, "x")
    claimed: list[ClaimedJob] = []
    Scanner(bucket, settings, claimed.append).scan_once()
    (job,) = claimed
    job.status.update(lambda s: s.model_copy(update={"state": JobState.SUCCEEDED, "lease": None}))
    report = Scanner(bucket, settings, claimed.append).scan_once()
    assert report.retired == [active_key("u", job.job_id)]
    assert len(claimed) == 1

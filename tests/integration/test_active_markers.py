"""The ``active/`` marker says its job's state, so a dashboard poll reads only the statuses
it shows, however many jobs are unfinished; a marker follows its status, fenced, and one
that is behind its status shows the status all the same. Against moto's S3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.keys import active_key
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.operations import JobPage, Summary
from pipeline.manifests.status import JobState, RunCounts, StatusManifest
from pipeline.status.marker import follow_status, marker_body, state_of_etag
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.operator_client import operator_client

UNFINISHED = 1000


@pytest.fixture
def api(bucket: Bucket) -> Iterator[TestClient]:
    with operator_client(bucket) as http:
        yield http


class Requests:
    """The requests the bucket's client sends (botocore's own count, not the API's)."""

    def __init__(self, bucket: Bucket) -> None:
        self.sent = 0
        bucket.client.meta.events.register("before-send.s3", self._count)

    def _count(self, **_: Any) -> None:
        self.sent += 1


def _status(job_id: str, state: JobState, *, user: str = "u", **fields: Any) -> StatusManifest:
    return StatusManifest.model_validate(
        {
            "job_id": job_id,
            "user_id": user,
            "manifest_key": f"users/{user}/jobs/{job_id}/manifest.json",
            "state": state.value,
            **fields,
        }
    )


def _seed_unfinished(bucket_name: str, count: int) -> None:
    """``count`` jobs waiting for their clip, each a status and its marker as the claim
    and the worker leave them, straight into the in-process moto backend (set-up only)."""
    import json

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    body = marker_body(JobState.WAITING_FOR_INPUT)
    for i in range(count):
        job_id, user = f"{i:020x}", f"user{i % 40}"
        status = _status(job_id, JobState.WAITING_FOR_INPUT, user=user)
        doc = json.dumps(status.model_dump(mode="json")).encode()
        backend.put_object(bucket_name, f"users/{user}/jobs/{job_id}/status.json", doc)
        backend.put_object(bucket_name, active_key(user, job_id), body)


def test_a_poll_with_a_thousand_unfinished_jobs_reads_only_the_jobs_it_shows(
    api: TestClient, bucket: Bucket
) -> None:
    """``limit=1`` with 1,000 jobs waiting: the ``active/`` listing and one status, not a
    GET per unfinished job; the summary reads no status at all."""
    _seed_unfinished(bucket.name, UNFINISHED)
    sent = Requests(bucket)
    for params in ({"limit": 1}, {"limit": 1, "unfinished": True}):
        before, started = sent.sent, time.monotonic()
        page = JobPage.model_validate(api.get("/v1/jobs", params=params).json())
        seconds = time.monotonic() - started
        assert len(page.jobs) == 1 and page.jobs[0].status.state is JobState.WAITING_FOR_INPUT
        assert sent.sent - before <= 3 and page.requests <= 3, (params, sent.sent - before)
        assert seconds < 5.0  # it took ~4 s when every marker cost a GET (measured)
    waiting = api.get("/v1/jobs", params={"limit": 5, "state": "waiting_for_input"}).json()
    assert len(waiting["jobs"]) == 5 and waiting["requests"] <= 2 + 5
    assert api.get("/v1/jobs", params={"limit": 5, "state": "running"}).json()["jobs"] == []
    before = sent.sent
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.unfinished == {"waiting_for_input": UNFINISHED}
    assert sent.sent - before <= 1 + 1 + 24 + 7  # active/ (two pages at most), the rollups


def _submit(bucket: Bucket, clip: Path | None, tag: str) -> str:
    key = upload_clip(bucket, "u", clip) if clip else "clips/later.mp4"
    body = {"input_key": key, **job_manifest(framing={})}
    return submit_manifest(bucket, "u", body, request_id=tag).inbox_key


def _said(bucket: Bucket, job_id: str) -> JobState | None:
    (listed,) = [m for m in bucket.list("active/u/") if m.key == active_key("u", job_id)]
    return state_of_etag(listed.etag)


def test_the_marker_follows_the_state_and_goes_with_the_job(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Claimed: queued. Its clip missing: waiting_for_input, with the run's epoch. Its clip
    there: the job runs and is retired, and its marker is gone."""
    waiting = settings.replace(input_wait_s=600.0)
    job = claim(bucket, _submit(bucket, None, "r1"))
    assert isinstance(job, ClaimedJob)
    assert _said(bucket, job.job_id) is JobState.QUEUED
    worker = local_worker(bucket, waiting)
    try:
        status = worker.run(job)
        assert status is not None and status.state is JobState.WAITING_FOR_INPUT
        assert _said(bucket, job.job_id) is JobState.WAITING_FOR_INPUT
        token = bucket.head(active_key("u", job.job_id)).metadata
        assert token["epoch"] == str(status.runs.epoch)
        clip, _ = make_clip(tmp_path, duration_s=0.5)
        bucket.upload_file(clip, "users/u/clips/later.mp4")
        final = worker.run(ClaimedJob.existing(bucket, "u", job.job_id))
    finally:
        worker.close()
    assert final is not None and final.state is JobState.SUCCEEDED
    assert not bucket.exists(active_key("u", job.job_id))


def test_a_marker_is_never_put_back_by_an_older_status_nor_brought_back(bucket: Bucket) -> None:
    """A worker whose lease was taken over writes its marker late: the newer epoch's
    marker stays. A retired job's marker is not created again."""
    job_id = "a" * 20
    key = active_key("u", job_id)
    bucket.put_bytes(key, b"")  # a marker as the claim wrote them before they said a state
    newer = _status(job_id, JobState.RUNNING, runs=RunCounts(epoch=3))
    assert follow_status(bucket, newer) and _said(bucket, job_id) is JobState.RUNNING
    older = _status(job_id, JobState.WAITING_FOR_INPUT, runs=RunCounts(epoch=2))
    assert not follow_status(bucket, older) and _said(bucket, job_id) is JobState.RUNNING
    later = newer.model_copy(
        update={"state": JobState.WAITING_FOR_INPUT, "updated_at": datetime.now(UTC)}
    )
    assert follow_status(bucket, later) and _said(bucket, job_id) is JobState.WAITING_FOR_INPUT
    bucket.delete(key)  # retired
    again = later.model_copy(
        update={"state": JobState.RUNNING, "updated_at": datetime.now(UTC) + timedelta(1)}
    )
    assert not follow_status(bucket, again) and not bucket.exists(key)


def test_a_marker_behind_its_status_shows_the_status(api: TestClient, bucket: Bucket) -> None:
    """A marker that says queued for a running job, one that says running for a job just
    finished and not yet retired, and one that says nothing (written before markers said
    a state): each page shows what the statuses say."""
    running, done, old = "b" * 20, "c" * 20, "d" * 20
    for job_id, state, said in (
        (running, JobState.RUNNING, marker_body(JobState.QUEUED)),
        (done, JobState.SUCCEEDED, marker_body(JobState.RUNNING)),
        (old, JobState.QUEUED, b""),
    ):
        status = _status(job_id, state)
        bucket.put_json(bucket.layout.status_key("u", job_id), status.model_dump(mode="json"))
        bucket.put_bytes(active_key("u", job_id), said)
    live = JobPage.model_validate(api.get("/v1/jobs", params={"unfinished": True}).json())
    assert [(i.status.job_id, i.status.state) for i in live.jobs] == [
        (running, JobState.RUNNING),
        (old, JobState.QUEUED),
    ]
    page = JobPage.model_validate(api.get("/v1/jobs").json())
    assert {i.status.job_id: i.status.state for i in page.jobs} == {
        running: JobState.RUNNING,
        done: JobState.SUCCEEDED,  # shown before its worker retires it
        old: JobState.QUEUED,
    }
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.unfinished == {"queued": 2, "running": 1}  # as the markers say

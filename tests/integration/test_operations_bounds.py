"""What one request to the operator's API may cost: a ``since`` reaching back to year 1,
a filter few jobs pass, a poll with many unfinished jobs; against moto's S3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pipeline.core.keys import finished_index_key
from pipeline.jobs.job_index import day_of
from pipeline.manifests.operations import JobPage
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.service import operations
from pipeline.service.operations import Operations
from pipeline.storage.bucket import Bucket
from tests.factories import seed_finished_jobs
from tests.operator_client import operator_client


@pytest.fixture
def api(bucket: Bucket) -> Iterator[TestClient]:
    with operator_client(bucket) as http:
        yield http


def _failed_job(bucket: Bucket, job_id: str, ended: datetime) -> None:
    """One failed job, as its worker leaves it: a status and its index entry."""
    status = StatusManifest.model_validate(
        {
            "job_id": job_id,
            "user_id": "past",
            "manifest_key": f"users/past/jobs/{job_id}/manifest.json",
            "state": "failed",
            "finished_at": ended.isoformat(),
        }
    )
    bucket.put_json(bucket.layout.status_key("past", job_id), status.model_dump(mode="json"))
    at = ended.astimezone(UTC)
    ms = ((at.hour * 60 + at.minute) * 60 + at.second) * 1000
    bucket.put_bytes(finished_index_key(day_of(at), ms, "past", job_id), b"")


def test_a_since_before_the_index_costs_what_the_index_holds(bucket: Bucket) -> None:
    """Ten years back with three days of history: the index's days are listed once, and
    only those days are read, not one listing a calendar day."""
    seed_finished_jobs(bucket.name, 30, days=3)
    now = datetime.now(UTC)
    page = Operations(bucket).jobs(since=now - timedelta(days=3650), limit=50, now=now)
    assert len(page.jobs) == 30 and page.next_cursor is None
    # active/, the day folders, at most 4 days (3 days of history may span 4 dates), a GET a job
    assert page.requests <= 1 + 1 + 4 + 30


@pytest.mark.parametrize(
    "since", ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00+05:00", "1970-01-01"]
)
def test_since_the_beginning_is_answered_cheaply(
    api: TestClient, bucket: Bucket, since: str
) -> None:
    """A ``since`` before the index began is clamped to it, silently: the whole (short)
    history, in a handful of requests."""
    seed_finished_jobs(bucket.name, 12, days=2)
    answer = api.get("/v1/jobs", params={"since": since})
    assert answer.status_code == 200, answer.text
    page = JobPage.model_validate(answer.json())
    assert len(page.jobs) == 12 and page.requests <= 1 + 1 + 3 + 12


@pytest.mark.parametrize(
    ("ahead", "code"),
    [
        (timedelta(days=1), 400),
        (timedelta(minutes=1), 200),  # a client's clock a little ahead
        (timedelta(0), 200),
        (-timedelta(hours=1), 200),
    ],
)
def test_a_since_in_the_future_is_a_bad_request(
    api: TestClient, ahead: timedelta, code: int
) -> None:
    """Nothing has finished after now: such a ``since`` is the client's mistake, said so."""
    when = datetime.now(UTC) + ahead
    answer = api.get("/v1/jobs", params={"since": when.isoformat()})
    assert answer.status_code == code, answer.text
    if code == 400:
        assert "future" in answer.json()["detail"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    for later in (tomorrow, "9999-12-31", "9999-12-31T23:59:59-05:00"):
        assert api.get("/v1/jobs", params={"since": later}).status_code == 400


def test_a_filter_few_jobs_pass_stops_at_the_budget_and_goes_on_by_cursor(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``state=failed`` over a history of succeeded jobs: each page stops near the request
    budget and hands back a cursor; following the cursors finds the one failed job."""
    monkeypatch.setattr(operations, "MAX_PAGE_REQUESTS", 40)
    seed_finished_jobs(bucket.name, 150, days=2)
    now = datetime.now(UTC)
    _failed_job(bucket, "f" * 20, now - timedelta(days=1, hours=12))
    ops = Operations(bucket)
    found: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = ops.jobs(
            state=JobState.FAILED, since=now - timedelta(days=5), limit=20, cursor=cursor, now=now
        )
        pages += 1
        assert page.requests <= 40 + 20 + 3  # the budget, one batch past it, the listings
        found += [item.status.job_id for item in page.jobs]
        cursor = page.next_cursor
        if cursor is None:
            break
        assert pages < 20
    assert found == ["f" * 20] and pages >= 3

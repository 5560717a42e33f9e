"""The operator's API on the app ``serve`` runs: authentication, the Host and Origin checks,
what /openapi.json declares, pages of jobs from the operations index, the summary from the
rollups, links and cancel, against moto's S3."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import InvalidKey
from pipeline.core.keys import validate_id, validate_job_id
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.manifests.operations import JobPage, Summary
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.service.request_origin import ServedHosts
from pipeline.service.webhook_app import create_app
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip, seed_finished_jobs
from tests.stage_runs import run_claimed

LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.7", 50000)
TOKEN = "operator-token-1234"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SERVED = "http://127.0.0.1:9001"  # what ``serve`` binds in these tests
OVERLAY = {"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}


def _app(bucket: Bucket, token: str | None = TOKEN) -> object:
    served = ServedHosts.bound("127.0.0.1", 9001, ["reel.example.com"])
    return create_app(
        "webhook-secret", lambda key: None, bucket=bucket, api_token=token, served_hosts=served
    )


def _client(bucket: Bucket, token: str | None = TOKEN, **kwargs: object) -> TestClient:
    return TestClient(_app(bucket, token), base_url=SERVED, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def api(bucket: Bucket) -> Iterator[TestClient]:
    with _client(bucket, client=LOOPBACK, headers=BEARER) as http:
        yield http


def _submit(bucket: Bucket, clip: Path, user: str, tag: str, **doc: object) -> str:
    body = {"input_key": upload_clip(bucket, user, clip), **job_manifest(overlay=OVERLAY), **doc}
    return submit_manifest(bucket, user, body, request_id=tag).inbox_key


@pytest.fixture
def jobs(bucket: Bucket, settings: Settings, tmp_path: Path) -> dict[str, StatusManifest]:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    settings = settings.replace(input_wait_s=0.0)  # a missing clip fails
    done = {
        "a-ok": run_claimed(bucket, settings, _submit(bucket, clip, "ann", "r1")),
        "b-ok": run_claimed(bucket, settings, _submit(bucket, clip, "bob", "r2")),
        "b-bad": run_claimed(
            bucket, settings, _submit(bucket, clip, "bob", "r3", input_key="clips/none.mp4")
        ),
    }
    queued = claim(bucket, _submit(bucket, clip, "ann", "r4", stages={"framing": {}}))
    assert queued is not None
    done["a-queued"] = queued.status.latest
    return done


def test_without_a_configured_token_the_api_answers_nobody_not_even_loopback(
    bucket: Bucket,
) -> None:
    with _client(bucket, None, client=LOOPBACK) as http:
        assert http.get("/v1/jobs").status_code == 403
        assert "REELPIPE_API_TOKEN" in http.get("/v1/summary").json()["detail"]
        assert http.get("/v1/jobs", headers=BEARER).status_code == 403
        assert http.get("/healthz").status_code == 200


def test_every_call_needs_the_token_from_anywhere_loopback_included(bucket: Bucket) -> None:
    for client in (LOOPBACK, ("::1", 1), ELSEWHERE):
        with _client(bucket, client=client) as http:
            assert http.get("/v1/jobs").status_code == 401
            assert http.post(f"/v1/jobs/ann/{'0' * 20}/cancel").status_code == 401
            wrong = {"Authorization": "Bearer wrong"}
            assert http.get("/v1/jobs", headers=wrong).status_code == 401
            assert http.get("/v1/jobs", headers=BEARER).status_code == 200
            assert http.get("/v1/summary", headers=BEARER).is_success
    with _client(bucket, client=LOOPBACK) as http:
        page = http.get("/")
        assert page.status_code == 200 and '<script src="/static/dashboard.js">' in page.text
        assert TOKEN not in page.text
        assert "#token=" in http.get("/v1/jobs").json()["detail"]  # says where the link is


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9002"},  # another port is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": SERVED, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_write_from_another_sites_page_is_refused(
    api: TestClient, jobs: dict[str, StatusManifest], headers: dict[str, str]
) -> None:
    """A page elsewhere in the operator's browser cannot cancel jobs, token or not."""
    queued = jobs["a-queued"].job_id
    answer = api.post(f"/v1/jobs/ann/{queued}/cancel", headers=headers)
    assert answer.status_code == 403 and "own pages" in answer.json()["detail"]
    status = api.get(f"/v1/jobs/ann/{queued}").json()
    assert status["state"] == "queued"
    assert api.get("/v1/jobs", headers=headers).status_code == 200  # reads: Host decides


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": SERVED, "Sec-Fetch-Site": "same-origin"},
        {"Origin": "http://localhost:9001", "Host": "localhost:9001"},
        {},  # a script: no Origin, no Sec-Fetch-Site
    ],
)
def test_a_write_from_the_dashboard_itself_or_a_script_is_served(
    api: TestClient, jobs: dict[str, StatusManifest], headers: dict[str, str]
) -> None:
    queued = jobs["a-queued"].job_id
    answer = api.post(f"/v1/jobs/ann/{queued}/cancel", headers=headers)
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"


@pytest.mark.parametrize("path", ["/", "/static/dashboard.js", "/v1/jobs", "/openapi.json", "/x"])
def test_a_host_that_does_not_name_the_server_is_answered_421_everywhere(
    api: TestClient, path: str
) -> None:
    """DNS rebinding: a hostile name re-pointed at 127.0.0.1 still sends its own Host."""
    for host in ("evil.example:9001", "evil.example", "127.0.0.1:9002", "127.0.0.1.evil:9001"):
        assert api.get(path, headers={"Host": host}).status_code == 421, host
    for host in ("127.0.0.1:9001", "localhost:9001", "[::1]:9001", "reel.example.com"):
        assert api.get(path, headers={"Host": host}).status_code != 421, host


def test_the_signed_webhook_and_the_liveness_probe_answer_any_host(api: TestClient) -> None:
    """``/events`` is authenticated by its signature, ``/healthz`` tells nothing."""
    elsewhere = {"Host": "tunnel.example.net"}
    assert api.get("/healthz", headers=elsewhere).json() == {"ok": True}
    assert api.post("/events", content=b"{}", headers=elsewhere).status_code == 401


def test_openapi_declares_the_errors_and_the_id_patterns(api: TestClient) -> None:
    """A client generated from /openapi.json knows every answer and what an id looks like."""
    doc = api.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ApiError"}
    assert doc["components"]["schemas"]["ApiError"]["required"] == ["detail"]
    routes = {
        ("/v1/jobs", "get"): {"400", "401", "403"},
        ("/v1/summary", "get"): {"401", "403"},
        ("/v1/jobs/{user}/{job_id}", "get"): {"400", "401", "403", "404"},
        ("/v1/jobs/{user}/{job_id}/links", "get"): {"400", "401", "403", "404"},
        ("/v1/jobs/{user}/{job_id}/cancel", "post"): {"400", "401", "403", "404"},
    }
    for (path, method), codes in routes.items():
        answers = doc["paths"][path][method]["responses"]
        assert codes <= set(answers), (path, set(answers))
        for code in codes:
            assert answers[code]["content"]["application/json"]["schema"] == error
    params = {
        p["name"]: p["schema"]["pattern"]
        for p in doc["paths"]["/v1/jobs/{user}/{job_id}/cancel"]["post"]["parameters"]
    }
    listed = doc["paths"]["/v1/jobs"]["get"]["parameters"]
    user_filter = next(p for p in listed if p["name"] == "user")["schema"]
    assert user_filter["pattern"] == params["user"]
    for value in ("ann", "a.b-c_9", "A" * 64, "a..b", ".ann", "A" * 65, "an/n", ""):
        assert bool(re.search(params["user"], value)) == _valid(validate_id, value), value
    for value in ("0123456789abcdef0123", "0123456789ABCDEF0123", "0" * 19, "0" * 21):
        assert bool(re.search(params["job_id"], value)) == _valid(validate_job_id, value), value


def _valid(rule: object, value: str) -> bool:
    try:
        rule(value)  # type: ignore[operator]
    except InvalidKey:
        return False
    return True


def test_pages_put_unfinished_jobs_first_then_the_finished_newest_first(
    api: TestClient, jobs: dict[str, StatusManifest]
) -> None:
    page = JobPage.model_validate(api.get("/v1/jobs").json())
    ids = [item.status.job_id for item in page.jobs]
    assert ids[0] == jobs["a-queued"].job_id
    finished = [jobs[k].job_id for k in ("b-bad", "b-ok", "a-ok")]
    assert ids[1:] == finished
    ok = next(i for i in page.jobs if i.status.job_id == jobs["a-ok"].job_id)
    assert ok.poster_url is not None and "X-Amz-Signature" in ok.poster_url
    failed = JobPage.model_validate(api.get("/v1/jobs", params={"state": "failed"}).json())
    assert [i.status.job_id for i in failed.jobs] == [jobs["b-bad"].job_id]
    bobs = JobPage.model_validate(api.get("/v1/jobs", params={"user": "bob"}).json())
    assert {i.status.user_id for i in bobs.jobs} == {"bob"} and len(bobs.jobs) == 2
    one = api.get("/v1/jobs", params={"limit": 2}).json()
    rest = api.get("/v1/jobs", params={"limit": 10, "cursor": one["next_cursor"]}).json()
    paged = [j["status"]["job_id"] for j in one["jobs"] + rest["jobs"]]
    assert paged == ids and rest["next_cursor"] is None
    assert api.get("/v1/jobs", params={"cursor": "users/x"}).status_code == 400
    live = JobPage.model_validate(api.get("/v1/jobs", params={"unfinished": True}).json())
    assert [i.status.job_id for i in live.jobs] == [jobs["a-queued"].job_id]
    assert live.requests == 2  # the active listing and the one status: what a live view polls
    by_user = api.get("/v1/jobs", params={"unfinished": True, "user": "bob"}).json()
    assert by_user["jobs"] == []


def test_a_job_its_links_and_cancel(api: TestClient, jobs: dict[str, StatusManifest]) -> None:
    ok = jobs["a-ok"]
    status = StatusManifest.model_validate(api.get(f"/v1/jobs/ann/{ok.job_id}").json())
    assert (status.job_id, status.state, status.output_key) == (
        ok.job_id,
        JobState.SUCCEEDED,
        ok.output_key,
    )
    links = api.get(f"/v1/jobs/ann/{ok.job_id}/links").json()
    assert set(links) >= {"output_url", "poster_url", "preview_url"} and links["output_url"]
    assert api.get(f"/v1/jobs/ann/{'0' * 20}").status_code == 404
    assert api.get("/v1/jobs/ann/not-a-job").status_code == 400
    queued = jobs["a-queued"].job_id
    answer = api.post(f"/v1/jobs/ann/{queued}/cancel").json()
    assert answer["changed"] and answer["state"] == "cancelled"
    again = api.post(f"/v1/jobs/ann/{ok.job_id}/cancel").json()
    assert not again["changed"] and again["state"] == "succeeded"
    page = JobPage.model_validate(api.get("/v1/jobs").json())
    states = {i.status.job_id: i.status.state for i in page.jobs}
    assert states[queued] is JobState.CANCELLED  # shown before a worker retires it


def test_the_summary_counts_states_totals_and_stage_percentiles(
    api: TestClient, jobs: dict[str, StatusManifest]
) -> None:
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.unfinished == {"queued": 1}
    assert summary.last_24h.jobs == 3 and summary.last_7d.jobs == 3
    assert summary.last_24h.by_state == {"succeeded": 2, "failed": 1}
    total = sum(jobs[k].cpu_seconds for k in ("a-ok", "b-ok", "b-bad"))
    assert summary.last_24h.cpu_seconds == pytest.approx(total, abs=0.01)
    overlay = summary.stages["overlay"]
    assert overlay.samples == 2 and overlay.p50_s <= overlay.p95_s
    assert summary.requests == 1 + 24 + 7  # active listing (its marker says queued), rollups


def test_a_page_costs_the_same_with_ten_thousand_past_jobs(api: TestClient, bucket: Bucket) -> None:
    seed_finished_jobs(bucket.name, 10_000, days=30)
    page = JobPage.model_validate(api.get("/v1/jobs", params={"limit": 50}).json())
    assert len(page.jobs) == 50
    ended = [i.status.finished_at for i in page.jobs]
    assert ended == sorted(ended, reverse=True)  # type: ignore[type-var]
    # active/, one listing a day looked at (today has fewer than 50 when it is early UTC),
    # a status a job shown: nothing grows with the 10,000.
    assert page.requests in (1 + 1 + 50, 1 + 2 + 50)
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.requests == 1 + 24 + 7


def test_a_job_retired_twice_is_counted_once(
    api: TestClient, bucket: Bucket, jobs: dict[str, StatusManifest]
) -> None:
    """Two workers may both retire a finished job (one crashed before deleting its marker):
    the index entry is created with If-None-Match, and only its creator adds to the rollups."""
    from pipeline.jobs.job_index import record_finished

    again = bucket.get_json(bucket.layout.status_key("ann", jobs["a-ok"].job_id)).data
    assert record_finished(bucket, StatusManifest.model_validate(again)) is False
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.last_24h.jobs == 3 and summary.last_7d.jobs == 3


def test_reindex_adds_the_jobs_from_before_the_index_once(
    api: TestClient, bucket: Bucket, jobs: dict[str, StatusManifest]
) -> None:
    """Jobs finished before the index existed: ``reelpipe reindex`` adds them, once."""
    from pipeline.jobs.job_index import reindex

    for item in list(bucket.list("index/")):
        bucket.delete(item.key)  # as if these jobs had finished before the index
    empty = JobPage.model_validate(api.get("/v1/jobs").json())
    assert [i.status.job_id for i in empty.jobs] == [jobs["a-queued"].job_id]
    assert reindex(bucket) == (3, 3)
    assert reindex(bucket) == (3, 0)
    page = JobPage.model_validate(api.get("/v1/jobs").json())
    assert len(page.jobs) == 4
    summary = Summary.model_validate(api.get("/v1/summary").json())
    assert summary.last_24h.jobs == 3

"""Webhook: signed R2 and S3 notifications claim; everything else is refused or ignored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.client.submit import submit_manifest
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.scan import Scanner
from pipeline.service.webhook import event_keys, signed_headers
from pipeline.service.webhook_app import create_app
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest

SECRET = "webhook-test-secret"


@pytest.fixture
def claimed() -> list[ClaimedJob]:
    return []


@pytest.fixture
def client(bucket: Bucket, settings: Settings, claimed: list[ClaimedJob]) -> TestClient:
    scanner = Scanner(bucket, settings, claimed.append, owner="webhook")
    return TestClient(create_app(SECRET, scanner.claim_key))


def post(client: TestClient, document: Any, *, secret: str = SECRET, at: int | None = None) -> Any:
    body = json.dumps(document).encode()
    return client.post("/events", content=body, headers=signed_headers(secret, body, at))


def r2_event(key: str) -> dict[str, Any]:
    return {
        "account": "acct",
        "bucket": "reelpipe-test",
        "action": "PutObject",
        "object": {"key": key, "size": 10, "eTag": "x"},
        "eventTime": "2026-11-29T10:00:00Z",
    }


def test_r2_event_claims_the_manifest(
    client: TestClient, bucket: Bucket, claimed: list[ClaimedJob]
) -> None:
    """A signed R2 notification for an inbox manifest claims it."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    resp = post(client, r2_event(inbox))
    assert resp.status_code == 200
    assert resp.json() == {"claimed": [inbox], "ignored": []}
    assert len(claimed) == 1 and not bucket.exists(inbox)


def test_r2_batch_and_s3_records_claim_each_manifest(
    client: TestClient, bucket: Bucket, claimed: list[ClaimedJob]
) -> None:
    """A batch of R2 events, and S3 records with URL-encoded keys, claim every manifest."""
    a = submit_manifest(bucket, "u", job_manifest(framing={}), request_id="a").inbox_key
    b = submit_manifest(bucket, "u", job_manifest(framing={}), request_id="b.1").inbox_key
    assert post(client, [r2_event(a)]).json()["claimed"] == [a]
    records = {"Records": [{"s3": {"object": {"key": b.replace(".", "%2E"), "size": 1}}}]}
    assert post(client, records).json()["claimed"] == [b]
    assert len(claimed) == 2


def test_r2_queue_batches_are_accepted(
    client: TestClient, bucket: Bucket, claimed: list[ClaimedJob]
) -> None:
    """A queue consumer forwarding ``{"messages": [{"body": event}]}`` works too."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    resp = post(client, {"messages": [{"id": "m1", "body": r2_event(inbox)}]})
    assert resp.json()["claimed"] == [inbox]


def test_repeated_events_claim_once(
    client: TestClient, bucket: Bucket, claimed: list[ClaimedJob]
) -> None:
    """The same notification delivered twice (or a scan after it) makes one job."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    post(client, r2_event(inbox))
    second = post(client, r2_event(inbox))
    assert second.status_code == 200 and second.json()["claimed"] == []
    assert len(claimed) == 1


def test_keys_outside_the_inbox_are_ignored(client: TestClient, claimed: list[ClaimedJob]) -> None:
    """The pipeline's own writes and other uploads do nothing."""
    keys = ["users/u/jobs/0123456789abcdef0123/status.json", "users/u/clips/x.mp4", "inbox/u/x.txt"]
    resp = post(client, [r2_event(k) for k in keys])
    assert resp.status_code == 200
    assert resp.json() == {"claimed": [], "ignored": keys}
    assert claimed == []


def test_bad_signature_is_401(client: TestClient, bucket: Bucket) -> None:
    """A request signed with another secret is refused and claims nothing."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    resp = post(client, r2_event(inbox), secret="not-the-secret")
    assert resp.status_code == 401
    assert bucket.exists(inbox)


def test_replayed_old_request_is_401(client: TestClient, bucket: Bucket) -> None:
    """A correctly signed request from ten minutes ago is refused."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    resp = post(client, r2_event(inbox), at=int(time.time()) - 600)
    assert resp.status_code == 401
    assert bucket.exists(inbox)


def test_unsigned_request_is_401(client: TestClient) -> None:
    """No headers, no entry."""
    assert client.post("/events", content=b"{}").status_code == 401


@pytest.mark.parametrize(
    "body", [b"not json", b'{"hello": 1}', b'{"Records": [{"s3": {}}]}', b"[1]"]
)
def test_garbage_is_400(client: TestClient, body: bytes) -> None:
    """Signed but not a notification: 400 with a reason."""
    resp = client.post("/events", content=body, headers=signed_headers(SECRET, body))
    assert resp.status_code == 400
    assert "error" in resp.json()


def test_s3_keys_are_url_decoded() -> None:
    """``+`` is a space and %xx escapes are decoded in S3 records."""
    doc = {"Records": [{"s3": {"object": {"key": "inbox/u/my+req%2B1.json"}}}]}
    assert event_keys(doc) == ["inbox/u/my req+1.json"]


def test_a_body_over_the_limit_is_413_before_anything_else(bucket: Bucket) -> None:
    """Declared too large, or streamed past the limit without a length: 413, no claim."""
    calls: list[str] = []
    small = TestClient(create_app(SECRET, calls.append, max_body_bytes=1024))
    body = json.dumps([r2_event(f"inbox/u/r{i}.json") for i in range(40)]).encode()
    assert len(body) > 1024
    assert post_raw(small, body).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    streamed = small.post("/events", content=chunks(), headers=signed_headers(SECRET, b""))
    assert streamed.status_code == 413
    assert calls == []


def post_raw(client: TestClient, body: bytes) -> Any:
    return client.post("/events", content=body, headers=signed_headers(SECRET, body))


def test_an_unsigned_request_never_reaches_a_claim() -> None:
    """Authentication comes before any S3 work: a bad signature costs no claim."""
    calls: list[str] = []
    app = TestClient(create_app(SECRET, calls.append))
    body = json.dumps(r2_event("inbox/u/r.json")).encode()
    resp = app.post("/events", content=body, headers=signed_headers("wrong", body))
    assert resp.status_code == 401 and calls == []


def test_a_full_claim_queue_answers_503_with_retry_after() -> None:
    """Claims wait on their own pool behind a bounded queue; when it is full the sender is
    told to come back, and the request does not wait."""
    release = threading.Event()

    def slow_claim(key: str) -> None:
        release.wait(10)

    app = create_app(SECRET, slow_claim, claim_threads=1, claim_queue=1)
    held = app.state.claims.submit(["inbox/u/held.json"])
    assert held is not None
    try:
        body = json.dumps(r2_event("inbox/u/r.json")).encode()
        began = time.monotonic()
        resp = post_raw(TestClient(app), body)
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert time.monotonic() - began < 2
    finally:
        release.set()
    held[0].result(10)
    assert app.state.claims.submit(["inbox/u/next.json"]) is not None

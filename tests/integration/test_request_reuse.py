"""A request id used again: each upload is its own job, and the claim links them in
order (``superseded_by`` on the earlier, ``replaces`` on the later) while the request
pointer keeps naming the first. Real S3 API (moto)."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim, write_request_pointer
from pipeline.jobs.request_reuse import newest_job
from pipeline.storage.bucket import Bucket, make_s3_client
from tests.factories import job_manifest, make_clip
from tests.faults import Delay, FaultyProxy

USER = "alice"


def _claim_three(bucket: Bucket, tmp_path: Path) -> list[ClaimedJob]:
    clip, _ = make_clip(tmp_path, duration_s=0.5, audio=False)
    relative = upload_clip(bucket, USER, clip)
    jobs = []
    for aspect in ("16:9", "1:1", "9:16"):
        doc = {"input_key": relative, **job_manifest(framing={"aspect": aspect})}
        job = claim(bucket, submit_manifest(bucket, USER, doc, request_id="req-1").inbox_key)
        assert job is not None
        jobs.append(job)
    return jobs


def test_uploads_under_one_request_id_are_linked_in_order(bucket: Bucket, tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        first, second, third = _claim_three(bucket, tmp_path)
    client = ReelpipeClient(bucket, USER)
    statuses = [client.status(j.job_id) for j in (first, second, third)]
    assert [s.replaces for s in statuses if s] == [None, first.job_id, second.job_id]
    assert [s.superseded_by for s in statuses if s] == [second.job_id, third.job_id, None]
    pointer = client.request_pointer("req-1")
    assert pointer is not None and pointer.job_id == first.job_id  # written once
    assert statuses[0] is not None
    assert newest_job(client.status, statuses[0]).job_id == third.job_id
    reused = [e for e in logs if e["event"] == "request_id_reused"]
    assert [(e["job_id"], e["replaces"]) for e in reused] == [
        (second.job_id, first.job_id),
        (third.job_id, second.job_id),
    ]


def test_a_resumed_job_links_nothing_again(bucket: Bucket, tmp_path: Path) -> None:
    """The resume path makes sure of the pointer: an earlier job resumed is not re-linked
    behind the later ones."""
    first, second, _ = _claim_three(bucket, tmp_path)
    status = first.status.read()
    assert write_request_pointer(bucket, status) is False
    after = ReelpipeClient(bucket, USER).status(first.job_id)
    assert after is not None and after.superseded_by == second.job_id and after.replaces is None


def test_a_request_claimed_while_it_is_looked_up_is_found(
    bucket: Bucket, settings: Settings
) -> None:
    """`status_for_request` reads the pointer (none yet), then the inbox: a claim that
    lands between the two (held here by a proxy delaying the inbox read) is found, never
    "no such request"."""
    pending = submit_manifest(bucket, USER, job_manifest(framing={}), request_id="req-9")
    looking = threading.Event()

    def hold_the_inbox_read(line: str) -> Delay | None:
        if line.startswith("HEAD ") and "/inbox/" in line:
            looking.set()
            return Delay(1.0)
        return None

    proxy = FaultyProxy(
        int(str(settings.storage.endpoint_url).rsplit(":", 1)[1]), hold_the_inbox_read
    )
    try:
        proxied = settings.replace(endpoint_url=proxy.endpoint_url)
        client = ReelpipeClient(Bucket(make_s3_client(proxied), settings.storage.bucket), USER)
        claimer = threading.Thread(
            target=lambda: looking.wait(10) and claim(bucket, pending.inbox_key)
        )
        claimer.start()
        found = client.status_for_request("req-9")
        claimer.join(timeout=30)
    finally:
        proxy.close()
    assert found is not None and found.job_id == pending.job_id

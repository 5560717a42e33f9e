"""Exactly-once claims under contention: threads and processes race for one manifest."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import SecretStr

from pipeline.client.submit import submit_manifest
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.scan import Scanner
from pipeline.storage.bucket import Bucket, make_s3_client
from tests.factories import job_manifest

THREADS_PER_PROCESS = 5


def _race(settings_json: str, inbox_key: str, start_at: float, results: object) -> None:
    """A claimer process: several threads claim at the same instant; report the wins."""
    settings = Settings.model_validate_json(settings_json)
    settings = settings.replace(
        access_key_id=SecretStr("test-access-key"),
        secret_access_key=SecretStr("test-secret-key-do-not-log"),
    )
    bucket = Bucket(make_s3_client(settings), settings.storage.bucket)
    won: list[str] = []
    scanner = Scanner(bucket, settings, lambda job: won.append(job.job_id), owner="proc")

    def attempt(_: int) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        scanner.claim_key(inbox_key)

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        list(pool.map(attempt, range(THREADS_PER_PROCESS)))
    results.put(len(won))  # type: ignore[attr-defined]


def test_twenty_concurrent_claimers_make_one_job(bucket: Bucket, settings: Settings) -> None:
    """10 threads here + 2 processes x 5 threads: one winner, one status, one run."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    start_at = time.time() + 2.0
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_race, args=(settings.model_dump_json(), inbox, start_at, queue))
        for _ in range(2)
    ]
    for p in processes:
        p.start()
    runs: list[ClaimedJob] = []
    lock = threading.Lock()

    def dispatch(job: ClaimedJob) -> None:
        with lock:
            runs.append(job)

    scanner = Scanner(bucket, settings, dispatch, owner="main")

    def attempt(_: int) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        scanner.claim_key(inbox)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(attempt, range(10)))
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    process_wins = sum(queue.get(timeout=5) for _ in processes)
    assert len(runs) + process_wins == 1
    statuses = [o.key for o in bucket.list("users/u/jobs/") if o.key.endswith("status.json")]
    assert len(statuses) == 1
    assert not list(bucket.list("inbox/"))
    manifests = [o.key for o in bucket.list("users/u/jobs/") if o.key.endswith("manifest.json")]
    assert len(manifests) == 1


def test_an_inbox_object_too_large_for_a_manifest_is_moved_aside(
    bucket: Bucket, settings: Settings
) -> None:
    """A 1 MB object at a manifest key is never read whole: it goes to rejected/ with why."""
    key = "inbox/u/huge.json"
    bucket.put_bytes(key, b" " * (1024 * 1024))
    small = settings.replace(max_manifest_bytes=64 * 1024)
    claimed: list[ClaimedJob] = []
    report = Scanner(bucket, small, claimed.append).scan_once()
    assert claimed == [] and report.claimed == []
    assert not bucket.exists(key)
    assert (
        "larger than a manifest may be"
        in bucket.get_json(f"rejected/{key}.reason.json").data["reason"]
    )


def test_a_manifest_replaced_after_the_listing_is_never_lost(
    bucket: Bucket, settings: Settings
) -> None:
    """The scan copies the version it listed; replaced in between, that job has no copy
    (its run will say so), the new version stays in the inbox and is claimed next."""
    from pipeline.jobs.claim import claim
    from pipeline.jobs.orchestrator import Orchestrator
    from pipeline.manifests.status import JobState
    from pipeline.runners.local import LocalRunner

    inbox = submit_manifest(bucket, "u", job_manifest(framing={}), request_id="swap").inbox_key
    (listed,) = list(bucket.list("inbox/"))
    bucket.put_json(inbox, job_manifest(framing={"aspect": "9:16"}))  # the user re-uploads
    stale = claim(bucket, inbox, listed=listed)
    assert stale is not None and not bucket.exists(stale.manifest_key)
    assert bucket.get_json(inbox).data == job_manifest(framing={"aspect": "9:16"})  # kept
    status = Orchestrator(bucket, LocalRunner(bucket, settings), settings).run(stale)
    assert status.state is JobState.FAILED and status.error is not None
    assert "replaced or removed while it was being claimed" in status.error.message
    claimed: list[ClaimedJob] = []
    Scanner(bucket, settings, claimed.append).scan_once()
    assert len(claimed) == 1 and claimed[0].job_id != stale.job_id
    assert bucket.get_json(claimed[0].manifest_key).data == job_manifest(framing={"aspect": "9:16"})


def test_a_claim_its_claimer_left_half_done_is_finished_by_the_claim(
    bucket: Bucket, settings: Settings
) -> None:
    """The claimer died after creating the status: the job's first run finishes the claim
    (the request pointer, the manifest copied from the very version in the inbox, the
    inbox entry retired) before it reads the manifest."""
    from pipeline.jobs.claim import claim, claimed_manifest, finish_claim

    submitted = submit_manifest(bucket, "u", job_manifest(framing={}), request_id="half")
    body, _ = bucket.get_bytes(submitted.inbox_key)
    job = claim(bucket, submitted.inbox_key)
    assert job is not None
    pointer = bucket.layout.request_key("u", "half")
    # Undo what the claimer did after the status: as if it had died right there, and a
    # scan found the job again.
    for key in (pointer, job.manifest_key):
        bucket.delete(key)
    bucket.put_bytes(submitted.inbox_key, body, content_type="application/json")
    job = ClaimedJob.existing(bucket, "u", job.job_id)

    finish_claim(bucket, job)
    assert bucket.get_json(pointer).data["job_id"] == job.job_id
    read = claimed_manifest(
        bucket, job, conditional_delete=settings.storage.uses_conditional_delete
    )
    assert read == body == bucket.get_bytes(job.manifest_key)[0]
    assert not bucket.exists(submitted.inbox_key)


def test_a_job_run_where_it_was_claimed_neither_writes_its_claim_again_nor_reads_it_back(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The claim hands its run what it wrote: the request pointer is not created a second
    time (a refused write, 15 to 30 ms) and the manifest it copied is not read back; the
    pointer and the copy are still there, written once."""
    from pipeline.client.submit import upload_clip
    from pipeline.jobs.claim import claim
    from pipeline.jobs.worker import Worker
    from pipeline.runners.local import LocalRunner
    from tests.factories import make_clip

    sent: list[tuple[str, str]] = []
    bucket.client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append((request.method, request.url))
    )
    clip = upload_clip(bucket, "u", make_clip(tmp_path, duration_s=0.5)[0])
    submitted = submit_manifest(
        bucket, "u", {"input_key": clip, **job_manifest(framing={})}, request_id="once"
    )
    job = claim(bucket, submitted.inbox_key)
    assert job is not None
    status = Worker(bucket, settings, LocalRunner(bucket, settings)).run(job)
    assert status is not None and status.state.value == "succeeded", status
    pointer = bucket.layout.request_key("u", "once")
    assert [m for m, url in sent if url.split("?")[0].endswith(pointer)] == ["PUT"]
    assert [m for m, url in sent if url.split("?")[0].endswith(job.manifest_key)] == ["PUT"]
    assert bucket.get_json(pointer).data["job_id"] == job.job_id
    assert job.manifest_body == bucket.get_bytes(job.manifest_key)[0]

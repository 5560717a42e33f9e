"""How fast a manifest is noticed, and what a scan costs as history grows.

(a) upload-to-claim latency: via the webhook (a signed event posted right after
    the upload, as an R2 notification would be) and via the scan at a given
    period; N manifests each, uploaded at random moments.
(b) one scan's cost (S3 requests and seconds) with 10 pending manifests at
    0 / 1,000 / 10,000 finished jobs in the bucket: it should stay flat.

Everything runs against the embedded S3 server on loopback.
Usage (from the repository root): python -m bench.trigger_latency [--manifests 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import threading
import time
import urllib.request
from typing import Any

import uvicorn

from pipeline.client.submit import submit_manifest
from pipeline.core.keys import active_key
from pipeline.core.logs import configure_logging
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.scan import Scanner
from pipeline.service.webhook import signed_headers
from pipeline.service.webhook_app import create_app
from pipeline.storage.bucket import Bucket
from pipeline.storage.connection import connect

SECRET = "bench-secret"
MANIFEST: dict[str, Any] = {"schema_version": 1, "stages": {"framing": {}}}


def seed_history(bucket_name: str, start: int, count: int) -> None:
    """Finished jobs written straight into the in-process emulator (set-up only)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i in range(start, start + count):
        prefix = f"users/history/jobs/{i:020x}/"
        backend.put_object(bucket_name, prefix + "status.json", b'{"state": "succeeded"}')
        backend.put_object(bucket_name, prefix + "manifest.json", b"{}")
        backend.put_object(bucket_name, prefix + "framing/video.mp4", b"\x00")


class ClaimClock:
    """Records when each job was claimed and retires it (no stage work in this bench)."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.claimed_at: dict[str, float] = {}
        self.event = threading.Event()

    def dispatch(self, job: ClaimedJob) -> None:
        self.claimed_at[job.job_id] = time.monotonic()
        self.bucket.delete(active_key(job.user_id, job.job_id))
        self.event.set()


def latency_by_webhook(bucket: Bucket, settings: Settings, n: int, port: int) -> list[float]:
    clock = ClaimClock(bucket)
    scanner = Scanner(bucket, settings, clock.dispatch)
    server = uvicorn.Server(
        uvicorn.Config(create_app(SECRET, scanner.claim_key), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    latencies = []
    for _ in range(n):
        uploaded = time.monotonic()
        sub = submit_manifest(bucket, "bench", MANIFEST)
        body = json.dumps({"object": {"key": sub.inbox_key}, "action": "PutObject"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/events",
            data=body,
            headers=signed_headers(SECRET, body),
            method="POST",
        )
        urllib.request.urlopen(request).close()
        latencies.append(clock.claimed_at[sub.job_id] - uploaded)
    server.should_exit = True
    thread.join()
    return latencies


def latency_by_scan(bucket: Bucket, settings: Settings, n: int, period: float) -> list[float]:
    clock = ClaimClock(bucket)
    scanner = Scanner(bucket, settings, clock.dispatch)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            scanner.scan_once()
            stop.wait(period)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    latencies = []
    for _ in range(n):
        time.sleep(random.uniform(0, period))
        uploaded = time.monotonic()
        sub = submit_manifest(bucket, "bench", MANIFEST)
        while sub.job_id not in clock.claimed_at:
            clock.event.wait(0.01)
            clock.event.clear()
        latencies.append(clock.claimed_at[sub.job_id] - uploaded)
    stop.set()
    thread.join()
    return latencies


def scan_cost(bucket: Bucket, settings: Settings, pending: int) -> tuple[int, int, float]:
    """(requests, list requests, seconds) of one scan that claims ``pending`` manifests."""
    for _ in range(pending):
        submit_manifest(bucket, "bench", MANIFEST)
    operations: list[str] = []

    def count(**kwargs: Any) -> None:
        operations.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

    bucket.client.meta.events.register("before-send.s3", count)
    clock = ClaimClock(bucket)
    started = time.perf_counter()
    Scanner(bucket, settings, clock.dispatch).scan_once()
    elapsed = time.perf_counter() - started
    bucket.client.meta.events.unregister("before-send.s3", count)
    # The retiring DELETEs of ClaimClock are not part of the scan.
    requests = len(operations) - pending
    return requests, operations.count("ListObjectsV2"), elapsed


def summary(values: list[float]) -> str:
    return (
        f"mean {statistics.mean(values) * 1000:.0f} ms, median "
        f"{statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=10)
    parser.add_argument("--port", type=int, default=9871)
    args = parser.parse_args()
    random.seed(1)
    configure_logging(level=logging.WARNING)
    settings = Settings.from_env({})
    with connect(settings) as conn:
        bucket, s = conn.bucket, conn.settings
        print(f"(a) upload-to-claim latency, {args.manifests} manifests each")
        webhook = latency_by_webhook(bucket, s, args.manifests, args.port)
        print(f"  webhook:            {summary(webhook)}")
        for period in (1.0, 5.0):
            lat = latency_by_scan(bucket, s, args.manifests, period)
            print(f"  scan every {period:g} s:    {summary(lat)}")
        print("(b) one scan with 10 pending manifests (5 requests of claim work each)")
        print("| finished jobs in bucket | requests | of which listings | seconds |")
        print("| --- | --- | --- | --- |")
        seeded = 0
        for history in (0, 1_000, 10_000):
            seed_history(s.storage.bucket, seeded, history - seeded)
            seeded = history
            requests, lists, seconds = scan_cost(bucket, s, 10)
            print(f"| {history:,} | {requests} | {lists} | {seconds:.3f} |")


if __name__ == "__main__":
    main()

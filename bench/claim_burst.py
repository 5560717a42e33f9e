"""A burst of uploads: N manifests land at once; how long one scan takes to claim them all,
with the claims one at a time and with the scan's thread pool, and the S3 requests each
claim costs.

Runs on the embedded S3 server (moto on loopback). Each claim is a real claim (GET the
manifest, PUT the active marker, create the status with If-None-Match, PUT the job's
copy, DELETE the inbox version); dispatch only records the job (on Modal it spawns an
orchestrator, which returns at once).

Usage: python -m bench.claim_burst [--manifests 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import Any

from pipeline.client.submit import submit_manifest
from pipeline.core.logs import configure_logging
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.scan import Scanner
from pipeline.storage.bucket import Bucket
from pipeline.storage.connection import connect
from pipeline.storage.embedded_process import EmbeddedS3Process


class Requests:
    """Counts the S3 requests a client sends."""

    def __init__(self, bucket: Bucket) -> None:
        self.count = 0
        self._lock = threading.Lock()
        bucket.client.meta.events.register("before-send.s3", self._seen)

    def _seen(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1


def burst(bucket: Bucket, settings: Settings, manifests: int, concurrency: int) -> None:
    """Upload ``manifests`` at once, then time one scan claiming them."""
    for i in range(manifests):
        submit_manifest(
            bucket, "fans", {"stages": {"framing": {}}}, request_id=f"c{concurrency}-{i}"
        )
    claimed: list[str] = []
    lock = threading.Lock()

    def dispatch(job: ClaimedJob) -> None:
        with lock:
            claimed.append(job.job_id)

    scanner = Scanner(bucket, settings, dispatch, owner="burst", claim_concurrency=concurrency)
    requests = Requests(bucket)
    began = time.perf_counter()
    report = scanner.scan_once()
    seconds = time.perf_counter() - began
    assert len(report.claimed) == manifests == len(set(claimed)), (len(report.claimed), manifests)
    listings = 2 * ((manifests + 999) // 1000)  # inbox/ and active/ pages
    per_claim = (requests.count - listings) / manifests
    print(
        f"| {manifests} | {concurrency} | {seconds:.1f} | {manifests / seconds:.0f} | "
        f"{requests.count} | {per_claim:.1f} |"
    )
    for job_id in claimed:  # the jobs are finished elsewhere; clear the active index
        bucket.delete(f"active/fans/{job_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    configure_logging(json=True, level=logging.WARNING)
    settings = Settings(bucket="burst", claim_concurrency=args.concurrency)
    # The server in its own process, as `reelpipe process` runs it: a store on another
    # machine in production; here it keeps moto off the claiming process's interpreter.
    with connect(settings, server=EmbeddedS3Process().start()) as conn:
        print(
            "| manifests | claims at once | seconds to claim all | claims/s | S3 requests |", end=""
        )
        print(" per claim |")
        print("| --- | --- | --- | --- | --- | --- |")
        for concurrency in (1, args.concurrency):
            burst(conn.bucket, conn.settings, args.manifests, concurrency)


if __name__ == "__main__":
    main()

"""What one operator API request costs when a client tries to make it expensive.

Anyone can make unfinished jobs (a manifest naming a missing clip waits 15 minutes),
and anyone with the token can ask for ``since=0001-01-01``. This runs the API's
``Operations`` against the embedded S3 server with N waiting jobs (their statuses
and ``active/`` markers as the claim and the status store write them) and 20
finished jobs over 5 days, and prints S3 requests and seconds per answer.

Usage (from the repository root): python -m bench.operator_api_bounds [--unfinished 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from pipeline.core.keys import active_key
from pipeline.core.settings import Settings
from pipeline.manifests.status import JobState
from pipeline.service.operations import Operations
from pipeline.status.marker import marker_body
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

KEYS = KeyPair("bench-key", "bench-secret")


def _bucket(server: EmbeddedS3, name: str) -> Bucket:
    settings = Settings(
        endpoint_url=server.endpoint_url,
        bucket=name,
        access_key_id=SecretStr(KEYS.access_key_id),
        secret_access_key=SecretStr(KEYS.secret_access_key),
    )
    bucket = Bucket(make_s3_client(settings), name)
    bucket.ensure_exists(settings.storage.region)
    return bucket


def _seed_waiting(bucket_name: str, jobs: int) -> None:
    """Waiting jobs straight into the in-process moto backend (set-up only)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    now = datetime.now(UTC)
    for i in range(jobs):
        job, user = f"{i:020x}", f"u{i % 50}"
        created = (now - timedelta(seconds=i)).isoformat()
        status = {"job_id": job, "user_id": user, "state": "waiting_for_input",
                  "manifest_key": f"users/{user}/jobs/{job}/manifest.json",
                  "created_at": created, "updated_at": created}  # fmt: skip
        backend.put_object(
            bucket_name, f"users/{user}/jobs/{job}/status.json", json.dumps(status).encode()
        )
        backend.put_object(
            bucket_name, active_key(user, job), marker_body(JobState.WAITING_FOR_INPUT)
        )


def _row(label: str, call: Callable[[], object], ops: Operations) -> None:
    before = ops.requests
    began = time.perf_counter()
    answer = call()
    seconds = time.perf_counter() - began
    requests = getattr(answer, "requests", ops.requests - before)
    print(f"| {label} | {requests} S3 requests, {seconds:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unfinished", type=int, default=1000)
    args = parser.parse_args()
    from tests.factories import seed_finished_jobs

    with EmbeddedS3(keys=KEYS) as server:
        waiting = _bucket(server, "bench-waiting")
        _seed_waiting(waiting.name, args.unfinished)
        history = _bucket(server, "bench-history")
        seed_finished_jobs(history.name, 20, days=5)
        ops, past = Operations(waiting), Operations(history)
        n = args.unfinished
        print("| request | cost |\n| --- | --- |")
        _row(f"jobs limit=1, {n} waiting", lambda: ops.jobs(limit=1), ops)
        _row(
            f"jobs unfinished limit=1, {n} waiting", lambda: ops.jobs(limit=1, unfinished=True), ops
        )
        _row(f"jobs limit=50, {n} waiting", lambda: ops.jobs(limit=50), ops)
        _row(f"summary, {n} waiting", ops.summary, ops)
        year_one = datetime(1, 1, 1, tzinfo=UTC)
        _row("jobs since=0001-01-01 limit=50, 20 jobs over 5 days",
             lambda: past.jobs(since=year_one, limit=50), past)  # fmt: skip


if __name__ == "__main__":
    main()

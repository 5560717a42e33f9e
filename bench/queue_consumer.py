"""The Cloudflare queue consumer Worker (infra/cloudflare) under miniflare's workerd,
forwarding into a real `reelpipe serve` on loopback.

(a) forward latency: one R2-shaped notification put on the local queue -> its job's status
    exists in the bucket (claimed), N times one after another; with the shipped
    max_batch_timeout (a lone message waits for its batch to fill) and with 0.
(b) throughput through one Worker instance: M notifications put at once, timed until the
    inbox is empty (every manifest claimed), with max_batch_size 1 and 100, against the
    limit: the same notifications POSTed to the webhook directly.

Everything runs on loopback: the embedded S3 server in this process, serve and
miniflare as child processes. Needs Node.js and ``npm ci`` in infra/cloudflare.
Usage (from the repository root): python -m bench.queue_consumer [--latency 50] [--messages 300]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from pydantic import SecretStr

from pipeline.client.submit import submit_manifest
from pipeline.core.settings import Settings
from pipeline.service.webhook import signed_headers
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair
from tests.cloudflare_queue import queue_consumer, r2_notification, wrangler_config
from tests.faults import announcement, free_ports, reaped, spawn, worker_env

SECRET = "bench-queue-secret"
KEYS = KeyPair("test-access-key", "test-secret-key-do-not-log")
MANIFEST: dict[str, Any] = {"schema_version": 1, "stages": {}}


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """`reelpipe serve` on the bucket (its scan once an hour: only the webhook claims)."""
    port = free_ports()[0]
    env = worker_env(settings, REELPIPE_SCAN_PERIOD_S="3600", REELPIPE_WEBHOOK_SECRET=SECRET)
    # Its log goes nowhere: a pipe nobody reads would fill and stop it.
    serve = spawn("serve", "--webhook-port", str(port), env=env, stderr=subprocess.DEVNULL)
    with reaped(serve) as proc:
        announcement(proc)
        time.sleep(1.0)  # its first scan (an empty inbox) is done
        yield f"http://127.0.0.1:{port}/events"
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def notifications(bucket: Bucket, user: str, count: int) -> list[tuple[dict[str, Any], str]]:
    out = []
    for i in range(count):
        sub = submit_manifest(bucket, user, MANIFEST, request_id=f"r{i:04d}")
        etag = bucket.head(sub.inbox_key).etag
        out.append((r2_notification(sub.inbox_key, etag), sub.job_id))
    return out


def latency(bucket: Bucket, url: str, n: int, batch_timeout: float, user: str) -> list[float]:
    """Seconds from the put on the queue to the job's status in the bucket, n times."""
    samples = []
    with queue_consumer(url, SECRET, queue_overrides={"max_batch_timeout": batch_timeout}) as c:
        for body, job_id in notifications(bucket, user, n):
            status = bucket.layout.status_key(user, job_id)
            began = time.monotonic()
            c.send([body])
            while not bucket.exists(status):
                assert time.monotonic() - began < 30, "not claimed within 30 s"
                time.sleep(0.002)
            samples.append(time.monotonic() - began)
    return samples


def settle(bucket: Bucket) -> None:
    """Wait until serve has run every job claimed so far (``active/`` empty), so a run
    does not share the machine with the last one's jobs."""
    began = time.monotonic()
    while any(True for _ in bucket.list("active/")):
        assert time.monotonic() - began < 300, "jobs still running after 300 s"
        time.sleep(0.2)


def throughput(bucket: Bucket, url: str, m: int, batch_size: int, user: str) -> float:
    """Messages per second: m notifications put at once until the inbox is empty."""
    sent = notifications(bucket, user, m)
    settle(bucket)
    overrides = {"max_batch_size": batch_size, "max_batch_timeout": 0}
    with queue_consumer(url, SECRET, queue_overrides=overrides) as c:
        began = time.monotonic()
        c.send([body for body, _ in sent])
        while any(True for _ in bucket.list(f"inbox/{user}/")):
            assert time.monotonic() - began < 300, "not all claimed within 300 s"
            time.sleep(0.05)
        return m / (time.monotonic() - began)


def direct(bucket: Bucket, url: str, m: int, user: str) -> float:
    """The limit: the same notifications POSTed straight to the webhook, signed, in
    requests of 50 one after another (no queue, no Worker)."""
    sent = [body for body, _ in notifications(bucket, user, m)]
    settle(bucket)
    began = time.monotonic()
    for i in range(0, m, 50):
        body = json.dumps(sent[i : i + 50]).encode()
        request = urllib.request.Request(
            url, data=body, headers=signed_headers(SECRET, body), method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.status == 200
    while any(True for _ in bucket.list(f"inbox/{user}/")):
        time.sleep(0.05)
    return m / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=int, default=50, help="samples per latency row")
    parser.add_argument("--messages", type=int, default=300, help="messages per throughput row")
    args = parser.parse_args()
    shipped = wrangler_config()["queues"]["consumers"][0]
    with EmbeddedS3(keys=KEYS) as server:
        settings = Settings(
            endpoint_url=server.endpoint_url,
            bucket="bench-queue",
            access_key_id=SecretStr(KEYS.access_key_id),
            secret_access_key=SecretStr(KEYS.secret_access_key),
        )
        bucket = Bucket(make_s3_client(settings), settings.storage.bucket)
        bucket.ensure_exists(settings.storage.region)
        with served(settings) as url:
            print("forward latency, put on the queue -> job claimed (ms)")
            print("| max_batch_timeout | n | median | p90 | max |")
            for timeout in (0, shipped["max_batch_timeout"]):
                samples = sorted(latency(bucket, url, args.latency, timeout, f"lat{timeout}"))
                p90 = samples[int(0.9 * (len(samples) - 1))]
                print(
                    f"| {timeout} s | {len(samples)} | {statistics.median(samples) * 1000:.0f} |"
                    f" {p90 * 1000:.0f} | {samples[-1] * 1000:.0f} |"
                )
            print(f"throughput, {args.messages} messages put at once -> all claimed")
            print("| max_batch_size | messages/s |")
            limit = direct(bucket, url, args.messages, "direct")
            for size in (1, 100):
                rate = throughput(bucket, url, args.messages, size, f"rate{size}")
                print(f"| {size} | {rate:.0f} ({rate / limit:.2f} x the webhook posted directly) |")
            print(f"| (the webhook, POSTed directly in requests of 50) | {limit:.0f} |")


if __name__ == "__main__":
    main()

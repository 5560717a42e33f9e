"""The Cloudflare queue consumer in Cloudflare's runtime (miniflare's workerd) against a real
`reelpipe serve`: R2 notifications put on the local queue become claimed jobs, once each,
whatever the webhook answers on the way."""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.client.submit import submit_manifest
from pipeline.core.settings import Settings
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from tests.cloudflare_queue import (
    NO_NODE,
    NODE,
    FlakyWebhook,
    queue_consumer,
    r2_notification,
)
from tests.conftest import TEST_KEYS
from tests.factories import job_manifest
from tests.faults import announcement, free_ports, reaped, spawn, wait_until, worker_env

pytestmark = pytest.mark.skipif(NODE is None, reason=NO_NODE)

SECRET = "queue-consumer-test-secret"
# Fast retries in the tests (the shipped base is 5 s); everything else as wrangler.toml says.
FAST = {"RETRY_BASE_DELAY_S": "1"}
NOW = {"max_batch_timeout": 0}
# The broker delivers a batch once it holds max_batch_size (100) messages; with a timeout of
# 0 it may deliver a partial batch (51, then 49) while a sendBatch is still being enqueued.
WHOLE_BATCH = {"max_batch_timeout": 10}


@dataclass
class Served:
    url: str
    bucket: Bucket


@pytest.fixture(scope="module")
def served(s3_server: EmbeddedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `reelpipe serve` for the module, on a bucket of its own (each test submits as a
    user of its own), with its scan switched off after the first (the next is an hour
    away): only the webhook claims. The first scan's claim of a sentinel manifest says it
    has listed the inbox."""
    settings = Settings(
        endpoint_url=s3_server.endpoint_url,
        bucket="queue-consumer",
        access_key_id=SecretStr(TEST_KEYS.access_key_id),
        secret_access_key=SecretStr(TEST_KEYS.secret_access_key),
        scratch_dir=tmp_path_factory.mktemp("scratch"),
    )
    bucket = Bucket(make_s3_client(settings), settings.storage.bucket)
    bucket.ensure_exists(settings.storage.region)
    port = free_ports()[0]
    env = worker_env(settings, REELPIPE_SCAN_PERIOD_S="3600", REELPIPE_WEBHOOK_SECRET=SECRET)
    sentinel = submit_manifest(bucket, "sentinel", job_manifest(), request_id="first-scan")
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")  # never a full pipe
    with log, reaped(spawn("serve", "--webhook-port", str(port), env=env, stderr=log)) as proc:
        announcement(proc)
        status = bucket.layout.status_key("sentinel", sentinel.job_id)
        wait_until(lambda: bucket.exists(status), timeout_s=30, what="the first scan")
        yield Served(f"http://127.0.0.1:{port}/events", bucket)
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):  # queued jobs may outlast it: reaped kills
            proc.wait(timeout=3)


@pytest.fixture
def user(request: pytest.FixtureRequest) -> str:
    """The test's own user (the module shares one bucket)."""
    return "t" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]


def submitted(bucket: Bucket, user: str, count: int) -> list[tuple[dict[str, Any], str]]:
    """``count`` manifests in ``user``'s inbox: (their R2 notification, their job id)."""
    out = []
    for i in range(count):
        sub = submit_manifest(bucket, user, job_manifest(), request_id=f"r{i:03d}")
        out.append((r2_notification(sub.inbox_key, bucket.head(sub.inbox_key).etag), sub.job_id))
    return out


def jobs(bucket: Bucket, user: str) -> set[str]:
    """The job ids of ``user`` that have a status (claimed jobs)."""
    return {
        item.key.split("/")[3]
        for item in bucket.list(f"users/{user}/jobs/")
        if item.key.endswith("/status.json")
    }


def test_r2_notifications_on_the_queue_become_claimed_jobs(served: Served, user: str) -> None:
    """Three notifications put on the queue: three claimed jobs, their manifests out of the
    inbox, nothing dead-lettered."""
    sent = submitted(served.bucket, user, 3)
    with queue_consumer(served.url, SECRET, queue_overrides=NOW) as consumer:
        consumer.send([body for body, _ in sent])
        wait_until(
            lambda: jobs(served.bucket, user) == {j for _, j in sent}, timeout_s=30, what="jobs"
        )
        wait_until(
            lambda: not list(served.bucket.list(f"inbox/{user}/")), timeout_s=10, what="an inbox"
        )
        assert consumer.dead() == []


def test_a_notification_delivered_twice_is_one_job(served: Served, user: str) -> None:
    """The same message twice in one batch and once more later (at-least-once delivery):
    one job, every delivery acked."""
    ((body, job_id),) = submitted(served.bucket, user, 1)
    flaky = FlakyWebhook(served.url)
    try:
        with queue_consumer(flaky.url, SECRET, queue_overrides=NOW) as consumer:
            consumer.send([body, body])
            wait_until(lambda: jobs(served.bucket, user) == {job_id}, timeout_s=30, what="the job")
            consumer.send([body])
            wait_until(
                lambda: sum(f.notifications for f in flaky.seen) == 3,
                timeout_s=30,
                what="the third delivery",
            )
            assert jobs(served.bucket, user) == {job_id}
            assert {f.status for f in flaky.seen} == {200}
            assert consumer.dead() == [] and consumer.logs("forward_retried") == []
    finally:
        flaky.close()


@pytest.mark.parametrize(
    ("failure", "options"),
    [("503", {"fail_status": 503}), ("timeout", {"stall_s": 1.5})],
)
def test_a_failing_webhook_gets_the_message_retried_with_growing_delay_then_claimed(
    served: Served, user: str, failure: str, options: dict[str, Any]
) -> None:
    """Two failures (503, or no answer within FORWARD_TIMEOUT_MS), then the webhook answers:
    the message was retried after about 1 s, then about 2 s, and its job is claimed once."""
    ((body, job_id),) = submitted(served.bucket, user, 1)
    flaky = FlakyWebhook(served.url, failures=2, **options)
    overrides = FAST | {"FORWARD_TIMEOUT_MS": "500"}
    try:
        with queue_consumer(flaky.url, SECRET, queue_overrides=NOW, var_overrides=overrides) as c:
            c.send([body])
            wait_until(lambda: jobs(served.bucket, user) == {job_id}, timeout_s=40, what="the job")
            assert flaky.answered(3)[-1].status == 200
            first, second, third = (f.at for f in flaky.seen)
            waited = 0.5 if failure == "timeout" else 0.0  # FORWARD_TIMEOUT_MS, before the delay
            assert second - first >= (1.0 + waited) * 0.9
            assert third - second >= (2.0 + waited) * 0.9
            retried = c.logs("forward_retried")
            assert (
                [r["status"] for r in retried] == [503, 503]
                if failure == "503"
                else ["timeout", "timeout"]
            )
            assert c.dead() == []
    finally:
        flaky.close()


def test_a_wrong_secret_sends_the_message_to_the_dead_letter_queue(
    served: Served, user: str
) -> None:
    """Signed with another secret, the webhook answers 401: the message goes to the
    dead-letter queue after one request (never retried), with a log line that does not
    hold the secret; no job."""
    ((body, _),) = submitted(served.bucket, user, 1)
    flaky = FlakyWebhook(served.url)
    try:
        with queue_consumer(flaky.url, "not-the-secret", queue_overrides=NOW) as consumer:
            consumer.send([body])
            dead = wait_until(consumer.dead, timeout_s=30, what="the dead letter")
            assert [d["notification"] for d in dead] == [body]
            assert dead[0]["status"] == 401 and "signature" in dead[0]["reason"]
            (logged,) = consumer.logs("dead_lettered")
            assert logged["status"] == 401
            assert [f.status for f in flaky.seen] == [401]
            assert "not-the-secret" not in "\n".join(consumer.lines)
        assert jobs(served.bucket, user) == set()
    finally:
        flaky.close()


def test_a_body_that_is_no_notification_is_dead_lettered_without_a_request(
    served: Served, user: str
) -> None:
    """A message without ``object.key`` never reaches the webhook; the good one beside it
    is claimed."""
    ((body, job_id),) = submitted(served.bucket, user, 1)
    flaky = FlakyWebhook(served.url)
    try:
        with queue_consumer(flaky.url, SECRET, queue_overrides=NOW) as consumer:
            consumer.send([{"not": "a notification"}, body])
            wait_until(lambda: jobs(served.bucket, user) == {job_id}, timeout_s=30, what="the job")
            dead = wait_until(consumer.dead, timeout_s=10, what="the dead letter")
            assert [d["notification"] for d in dead] == [{"not": "a notification"}]
            assert [f.notifications for f in flaky.answered(1)] == [1]
    finally:
        flaky.close()


def test_a_batch_of_100_is_forwarded_in_a_few_requests(served: Served, user: str) -> None:
    """100 messages in one batch: two requests of at most MAX_KEYS_PER_REQUEST (50), under
    the webhook's claim queue (64); 100 jobs."""
    sent = submitted(served.bucket, user, 100)
    flaky = FlakyWebhook(served.url)
    try:
        with queue_consumer(flaky.url, SECRET, queue_overrides=WHOLE_BATCH) as consumer:
            consumer.send([body for body, _ in sent])
            wait_until(
                lambda: len(jobs(served.bucket, user)) == 100,
                timeout_s=60,
                what="100 jobs",
                poll_s=0.2,
            )
            assert jobs(served.bucket, user) == {j for _, j in sent}
            assert [f.notifications for f in flaky.answered(2)] == [50, 50]
            assert {f.status for f in flaky.seen} == {200}
            assert consumer.dead() == []
    finally:
        flaky.close()

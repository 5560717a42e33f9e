"""``reelpipe serve`` never calls itself back: a manifest whose callback URL names serve's
own API (alice's job trying to cancel bob's) is refused, once, and the status says why."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from pydantic import SecretStr

from pipeline.client.app_client import ReelpipeClient
from pipeline.core.settings import Settings
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.bucket import open_bucket
from tests.factories import job_manifest, make_clip
from tests.faults import announcement, free_ports, reaped, spawn, wait_until


def test_a_callback_to_serves_own_api_is_refused_and_bobs_job_is_left_alone(
    tmp_path: Path,
) -> None:
    port, web_port = free_ports(2)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        "REELPIPE_CALLBACK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "REELPIPE_INPUT_WAIT_S": "120",  # bob's job waits for a clip that never comes
        "REELPIPE_SCAN_PERIOD_S": "0.3",
    }
    args = ["--in-memory", "--port", str(port), "--webhook-port", str(web_port), "--workers", "2"]
    with reaped(spawn("serve", *args, env=env)) as server:
        announced = announcement(server)
        settings = Settings(
            endpoint_url=announced["S3 endpoint"],
            access_key_id=SecretStr(announced["access key"]),
            secret_access_key=SecretStr(announced["secret key"]),
        )
        bucket = open_bucket(settings)
        bob = ReelpipeClient(bucket, "bob")
        missing = {"input_key": "clips/later.mp4", **job_manifest(framing={})}
        bob_id = bob.submit(None, missing, request_id="b").job_id
        wait_until(lambda: bob.status(bob_id), timeout_s=30, what="bob's job", poll_s=0.2)
        alice = ReelpipeClient(bucket, "alice")
        clip, _ = make_clip(tmp_path, duration_s=1.0)
        cancel = f"http://127.0.0.1:{web_port}/v1/jobs/bob/{bob_id}/cancel"
        manifest = {**job_manifest(framing={}), "notify": {"url": cancel}}
        alice_id = alice.submit(clip, manifest, request_id="a").job_id

        def refused() -> StatusManifest | None:
            status = alice.status(alice_id)
            done = status is not None and status.notifications and status.notifications[0].gave_up
            return status if done else None

        status = wait_until(refused, timeout_s=120, what="alice's callback", poll_s=0.2)
        assert status.state is JobState.SUCCEEDED
        (record,) = status.notifications
        assert record.attempts == 1 and record.last_http_status is None
        assert f"port {web_port} is one of reelpipe's own" in (record.last_error or "")
        time.sleep(0.5)
        after = bob.status(bob_id)
        assert after is not None and after.state is not JobState.CANCELLED
        assert after.cancel_requested_at is None
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

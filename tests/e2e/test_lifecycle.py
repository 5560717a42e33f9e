"""The job lifecycle with real processes: a killed worker, `serve` driven by the aws CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.client.app_client import ReelpipeClient
from pipeline.core.keys import job_id_for
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, StageState
from pipeline.media.sample import write_sample_clip
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.faults import announcement, free_ports

PYTHON_CLI = [sys.executable, "-m", "pipeline.cli.main"]


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REELPIPE_ENDPOINT_URL": str(settings.storage.endpoint_url),
        "REELPIPE_BUCKET": settings.storage.bucket,
        "AWS_ACCESS_KEY_ID": "test-access-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key-do-not-log",
        "REELPIPE_SCRATCH_DIR": str(settings.scratch_dir),
        **extra,
    }


def test_killed_worker_is_resumed_without_redoing_finished_stages(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """SIGKILL mid-overlay; after the lease expires a scan resumes and framing is not redone.

    Stages run as separate calls here (REELPIPE_FUSE=0): fused, framing and overlay are
    one call, resumed as a whole."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=8.0)
    client = ReelpipeClient(bucket, "u")
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=30)}}
    job_id = client.submit(clip, job_manifest(framing={}, overlay=overlay)).job_id
    env = server_env(
        settings, REELPIPE_LEASE_TTL_S="6", REELPIPE_X264_PRESET="slow", REELPIPE_FUSE="0"
    )
    worker = subprocess.Popen([*PYTHON_CLI, "scan", "--once"], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        status = client.status(job_id)
        overlay_state = status.stages.get(StageName.OVERLAY) if status else None
        if overlay_state is not None and overlay_state.state is StageState.RUNNING:
            break
        assert worker.poll() is None, "the worker finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed = client.status(job_id)
    assert killed is not None and killed.state is JobState.RUNNING and killed.lease is not None
    framed_key = killed.stages[StageName.FRAMING].outputs["video"]
    framed_etag = bucket.head(framed_key).etag

    early = subprocess.run([*PYTHON_CLI, "scan", "--once"], env=env, capture_output=True, text=True)
    assert "resumed 0" in early.stdout  # the lease has not expired yet
    time.sleep(max(0.0, (killed.lease.expires_at.timestamp() - time.time()) + 0.2))
    resumed = subprocess.run(
        [*PYTHON_CLI, "scan", "--once"], env=env, capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed 1" in resumed.stdout
    final = client.status(job_id)
    assert final is not None and final.state is JobState.SUCCEEDED
    assert final.stages[StageName.FRAMING].attempts == 1
    assert final.stages[StageName.OVERLAY].attempts == 2
    assert final.attempts == 2
    assert bucket.head(framed_key).etag == framed_etag


@pytest.fixture
def served(tmp_path: Path) -> object:
    """`reelpipe serve` on free ports; yields (endpoint, credentials env); stopped with SIGTERM."""
    port, webhook = free_ports(2)
    env = {**os.environ, "REELPIPE_SCAN_PERIOD_S": "0.5", "REELPIPE_SCRATCH_DIR": str(tmp_path)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REELPIPE_ENDPOINT_URL"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [
            *PYTHON_CLI,
            "serve",
            "--port",
            str(port),
            "--webhook-port",
            str(webhook),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    announced = announcement(proc)
    yield proc, announced
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_runs_a_job_uploaded_with_the_aws_cli(served: object, tmp_path: Path) -> None:
    """A multipart upload by the aws CLI and a manifest: the job succeeds; status shows it."""
    proc, announced = served  # type: ignore[misc]
    endpoint = announced["S3 endpoint"]
    clip = tmp_path / "game.mp4"
    write_sample_clip(
        clip,
        width=1280,
        height=720,
        duration_s=3.0,
        profile=EncodeProfile(preset="ultrafast", crf=0),
    )
    config = tmp_path / "aws-config"
    config.write_text(
        "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 1MB\n"
        "  multipart_chunksize = 5MB\n"
    )
    assert clip.stat().st_size > 1024 * 1024
    aws_env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        "AWS_ACCESS_KEY_ID": announced["access key"],
        "AWS_SECRET_ACCESS_KEY": announced["secret key"],
    }
    aws = [str(Path(sys.executable).with_name("aws")), "--endpoint-url", endpoint]
    subprocess.run(
        [*aws, "s3", "cp", str(clip), "s3://reelpipe/users/alice/clips/game.mp4"],
        env=aws_env,
        check=True,
        capture_output=True,
    )
    clip_head = subprocess.run(
        [
            *aws,
            "s3api",
            "head-object",
            "--bucket",
            "reelpipe",
            "--key",
            "users/alice/clips/game.mp4",
        ],
        env=aws_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-" in json.loads(clip_head.stdout)["ETag"]  # a multipart upload's ETag
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"input_key": "clips/game.mp4", **job_manifest(framing={})}))
    subprocess.run(
        [*aws, "s3", "cp", str(manifest), "s3://reelpipe/inbox/alice/req-1.json"],
        env=aws_env,
        check=True,
        capture_output=True,
    )
    head = subprocess.run(
        [*aws, "s3api", "head-object", "--bucket", "reelpipe", "--key", "inbox/alice/req-1.json"],
        env=aws_env,
        capture_output=True,
        text=True,
    )
    if head.returncode == 0:
        etag = json.loads(head.stdout)["ETag"]
    else:  # already claimed: the manifest left the inbox; its ETag is the upload's MD5
        etag = '"' + hashlib.md5(manifest.read_bytes()).hexdigest() + '"'
    job_id = job_id_for("inbox/alice/req-1.json", etag)
    status_env = {**aws_env, "REELPIPE_ENDPOINT_URL": endpoint}
    watched = subprocess.run(
        [*PYTHON_CLI, "status", job_id, "--user", "alice", "--watch", "--json"],
        env=status_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["state"] == "succeeded"
    shown = subprocess.run(
        [*PYTHON_CLI, "status", job_id, "--user", "alice"],
        env=status_env,
        capture_output=True,
        text=True,
    )
    assert "succeeded" in shown.stdout and "framing" in shown.stdout
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_serve_against_an_existing_bucket_runs_jobs_and_hides_its_keys(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """`serve --endpoint-url` works the configured bucket; its secret key is never printed."""
    env = server_env(settings, REELPIPE_SCAN_PERIOD_S="0.5")
    proc = subprocess.Popen(
        [
            *PYTHON_CLI,
            "serve",
            "--endpoint-url",
            str(settings.storage.endpoint_url),
            "--webhook-port",
            str(free_ports()[0]),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        clip, _ = make_clip(tmp_path, duration_s=1.0)
        client = ReelpipeClient(bucket, "u")
        job_id = client.submit(clip, job_manifest(framing={})).job_id
        final = client.wait(job_id, poll_s=0.2, timeout_s=120)
        assert final.state is JobState.SUCCEEDED
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert str(settings.storage.endpoint_url) in out
    assert "test-secret-key-do-not-log" not in out + err

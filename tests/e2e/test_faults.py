"""Faults as a hostile operator makes them: real process trees against a real S3 endpoint.

SIGSTOP past the lease, SIGTERM restarts, a proxy that stalls or delays requests,
hostile JSON at every entry, a huge unsigned POST, a restart of the embedded store.
Clips are tiny so the module stays quick on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest
from pipeline.core.keys import DEFAULT_LAYOUT, job_id_for
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimPolicy, claim
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, StageState, StatusManifest
from pipeline.service.webhook import signed_headers
from pipeline.storage.bucket import Bucket, make_s3_client
from tests.factories import job_manifest, make_clip
from tests.faults import (
    Delay,
    FaultyProxy,
    Stall,
    free_ports,
    reaped,
    rss_bytes,
    spawn,
    wait_until,
    worker_env,
)

DEEP = b"[" * 100_000 + b"]" * 100_000


def overlay_job(client: ReelpipeClient, clip: Path, truth: Any) -> str:
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=15)}}
    return client.submit(clip, job_manifest(overlay=overlay)).job_id


def stoppable_job(
    bucket: Bucket, settings: Settings, tmp_path: Path, preset: str, **extra: str
) -> tuple[ReelpipeClient, str, dict[str, str]]:
    """A 640x360 4 s overlay job, and the environment of workers that encode it with x264's
    ``preset`` (slow enough to be stopped mid-stage) and write progress every 0.1 s."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0)
    client = ReelpipeClient(bucket, "u")
    job_id = overlay_job(client, clip, truth)
    env = worker_env(
        settings,
        REELPIPE_LEASE_TTL_S="30",
        REELPIPE_X264_PRESET=preset,
        REELPIPE_PROGRESS_INTERVAL_S="0.1",
        **extra,
    )
    return client, job_id, env


def stage_running(client: ReelpipeClient, job_id: str, stage: StageName) -> StatusManifest | None:
    status = client.status(job_id)
    current = status.stages.get(stage) if status else None
    return status if current is not None and current.state is StageState.RUNNING else None


def overlay_attempt_before(
    client: ReelpipeClient, job_id: str, attempt: int, percent: float
) -> bool:
    """Attempt ``attempt`` of the overlay runs and has recorded less than ``percent`` done."""
    status = stage_running(client, job_id, StageName.OVERLAY)
    overlay = status.stages[StageName.OVERLAY] if status else None
    return overlay is not None and overlay.attempts == attempt and overlay.progress < percent


def pause_mid_overlay(
    worker: subprocess.Popen[str], client: ReelpipeClient, job_id: str, attempt: int
) -> None:
    """SIGSTOP ``worker`` while its overlay has more than half its frames to go, proven by the
    status read after the pause (progress is written every 0.1 s, so the worker cannot be far
    past what was recorded); a stage seen near its end would finish and succeed instead."""
    wait_until(
        partial(overlay_attempt_before, client, job_id, attempt, 30.0),
        timeout_s=120,
        what=f"run {attempt} to start the overlay",
    )
    os.kill(worker.pid, signal.SIGSTOP)
    time.sleep(0.3)  # a write already sent lands before the check
    assert overlay_attempt_before(client, job_id, attempt, 50.0), client.status(job_id)


def job_objects(bucket: Bucket, user: str, job_id: str) -> dict[str, str]:
    return {o.key: o.etag for o in bucket.list(f"users/{user}/jobs/{job_id}/")}


def test_a_worker_paused_past_its_lease_never_writes_again(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """SIGSTOP a worker mid-overlay past its lease; another finishes the job; after SIGCONT
    the stale worker stops without touching status.json or any output."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0)
    client = ReelpipeClient(bucket, "u")
    job_id = overlay_job(client, clip, truth)
    env = worker_env(settings, REELPIPE_LEASE_TTL_S="3", REELPIPE_X264_PRESET="slow")
    with reaped(spawn("scan", "--once", env=env)) as stale:
        wait_until(
            lambda: stage_running(client, job_id, StageName.OVERLAY), timeout_s=120, what="overlay"
        )
        os.kill(stale.pid, signal.SIGSTOP)
        paused = client.status(job_id)
        assert paused is not None and paused.lease is not None
        time.sleep(max(0.0, paused.lease.expires_at.timestamp() - time.time()) + 0.3)
        takeover = spawn("scan", "--once", env=env)
        _, err = takeover.communicate(timeout=180)
        assert takeover.returncode == 0, err
        done = client.status(job_id)
        assert done is not None and done.state is JobState.SUCCEEDED, done
        assert done.runs.deaths == 1 and done.runs.epoch == 2
        status_etag = bucket.head(status_key_of(done)).etag
        objects = job_objects(bucket, "u", job_id)
        assert done.output_key is not None and "/run-2/" in done.output_key

        os.kill(stale.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        _, stale_err = stale.communicate(timeout=60)
        stopped_after = time.monotonic() - resumed_at
    assert stale.returncode == 0, stale_err
    assert stopped_after < 3.0  # one renewal period (1 s) and the process's exit
    assert "job_fenced_off" in stale_err or "job_interrupted" in stale_err
    assert bucket.head(status_key_of(done)).etag == status_etag
    after = job_objects(bucket, "u", job_id)
    for key in done.outputs.values():
        assert after[key] == objects[key], f"{key} was replaced after the job succeeded"
    assert client.status(job_id) == done


def status_key_of(status: StatusManifest) -> str:
    return f"users/{status.user_id}/jobs/{status.job_id}/status.json"


def test_three_sigterm_restarts_hand_back_and_the_job_succeeds(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A rolling deploy: three workers stopped with SIGTERM mid-stage each hand the job back
    within seconds (not at the end of the stage); the fourth finishes; nothing counts as a death."""
    client, job_id, env = stoppable_job(bucket, settings, tmp_path, "slow")
    for restart in range(3):
        with reaped(spawn("scan", "--once", env=env)) as worker:
            pause_mid_overlay(worker, client, job_id, restart + 1)
            worker.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            os.kill(worker.pid, signal.SIGCONT)
            _, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            assert time.monotonic() - stopped_at < 5.0
        handed = client.status(job_id)
        assert handed is not None and handed.state is JobState.RUNNING, (restart, handed)
        assert handed.lease is None and handed.runs.handbacks == restart + 1
    last = spawn("scan", "--once", env=env)
    _, err = last.communicate(timeout=180)
    assert last.returncode == 0, err
    final = client.status(job_id)
    assert final is not None and final.state is JobState.SUCCEEDED, final.error
    assert final.runs.handbacks == 3 and final.runs.deaths == 0 and final.attempts == 4


def overlay_segments_before(
    client: ReelpipeClient, job_id: str, run: int, percent: float
) -> datetime | None:
    """When run ``run``'s overlay started, if that run holds the job and its two segment
    processes are rendering, together less than ``percent`` done."""
    status = stage_running(client, job_id, StageName.OVERLAY)
    if status is None or status.lease is None or status.runs.epoch != run:
        return None
    overlay = status.stages[StageName.OVERLAY]
    if len(overlay.segments) != 2 or not 0 < overlay.progress < percent:
        return None
    return overlay.started_at


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_segment_processes_stop_at_a_frame_with_their_worker(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The overlay split over two local worker processes. SIGTERM to the worker alone (a
    supervisor's stop), then Ctrl-C's SIGINT to the whole process tree: each time the
    segments stop within seconds, not at their end; the job is handed back, no process is
    left behind, nothing prints a traceback; a third run finishes the job."""
    client, job_id, env = stoppable_job(  # placebo: segments far longer than a stop takes
        bucket,
        settings,
        tmp_path,
        "placebo",
        REELPIPE_LOCAL_WORKERS="2",
        REELPIPE_SEGMENT_WORKERS="2",
    )
    started: list[datetime | None] = [None]

    def this_runs_overlay(run: int, percent: float) -> datetime | None:
        """Not the overlay the last run left behind (its progress is kept)."""
        at = overlay_segments_before(client, job_id, run, percent)
        return at if at != started[-1] else None

    for run, (signum, whole_tree) in enumerate([(signal.SIGTERM, False), (signal.SIGINT, True)]):
        with reaped(spawn("scan", "--once", env=env)) as worker:
            started.append(
                wait_until(
                    partial(this_runs_overlay, run + 1, 30.0),
                    timeout_s=120,
                    what=f"run {run + 1}'s overlay segments",
                )
            )
            os.killpg(worker.pid, signal.SIGSTOP)  # the segments cannot move on meanwhile
            time.sleep(0.3)  # a write already sent lands before the check
            paused = overlay_segments_before(client, job_id, run + 1, 50.0)
            assert paused == started[-1], client.status(job_id)
            if whole_tree:
                os.killpg(worker.pid, signum)
            else:
                worker.send_signal(signum)
            stopped_at = time.monotonic()
            os.killpg(worker.pid, signal.SIGCONT)
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, (run, err)
            assert time.monotonic() - stopped_at < 5.0
            assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
            wait_until(partial(group_gone, worker.pid), timeout_s=10, what="no process left")
        handed = client.status(job_id)
        assert handed is not None and handed.state is JobState.RUNNING, (run, handed.error)
        assert handed.lease is None and handed.runs.handbacks == run + 1
        assert handed.stages[StageName.OVERLAY].progress < 90.0
    last = spawn("scan", "--once", env={**env, "REELPIPE_X264_PRESET": "veryfast"})
    _, err = last.communicate(timeout=180)
    assert last.returncode == 0, err
    final = client.status(job_id)
    assert final is not None and final.state is JobState.SUCCEEDED, final.error
    assert final.runs.handbacks == 2 and final.runs.deaths == 0
    assert final.stages[StageName.OVERLAY].workers == 2


def test_a_manifest_overwritten_during_its_claim_is_never_lost(
    bucket: Bucket, settings: Settings
) -> None:
    """20 tries: the app overwrites its manifest while the claim's DELETE is in flight
    (held by a proxy); the newer version stays in the inbox and becomes a job of its own."""
    deleting = threading.Event()

    def hold_inbox_deletes(line: str) -> Delay | None:
        if line.startswith("DELETE ") and "/inbox/" in line:
            deleting.set()
            return Delay(0.3)
        return None

    proxy = FaultyProxy(
        int(str(settings.storage.endpoint_url).rsplit(":", 1)[1]), hold_inbox_deletes
    )
    try:
        proxied_settings = settings.replace(endpoint_url=proxy.endpoint_url)
        proxied = Bucket(make_s3_client(proxied_settings), settings.storage.bucket)
        policy = ClaimPolicy.from_settings(settings, "claimer")
        for attempt in range(20):
            request = f"r{attempt}"
            first = submit_manifest(bucket, "u", job_manifest(framing={}), request_id=request)
            deleting.clear()
            claimer = threading.Thread(target=claim, args=(proxied, first.inbox_key, policy))
            claimer.start()
            assert deleting.wait(10)
            newer = job_manifest(framing={"trim": {"start_s": 0.0, "end_s": 1.0 + attempt}})
            etag = bucket.put_bytes(first.inbox_key, json.dumps(newer).encode())
            claimer.join(10)
            assert bucket.head(first.inbox_key).etag == etag, f"try {attempt}: newer version lost"
            second = claim(bucket, first.inbox_key, policy)
            assert second is not None and second.job_id == job_id_for(first.inbox_key, etag)
            copied = json.loads(
                bucket.get_bytes(DEFAULT_LAYOUT.job_manifest_key("u", second.job_id))[0]
            )
            assert copied == newer
            assert not bucket.exists(first.inbox_key)
    finally:
        proxy.close()


def test_an_identical_reupload_of_a_claimed_manifest_is_retired_once(
    bucket: Bucket, settings: Settings
) -> None:
    """The same bytes uploaded again after the claim are the same job: the copy is retired
    with a log line naming it, not claimed again by every scan."""
    policy = ClaimPolicy.from_settings(settings, "claimer")
    body = json.dumps(job_manifest(framing={})).encode()
    key = "inbox/u/same.json"
    bucket.put_bytes(key, body)
    assert claim(bucket, key, policy) is not None
    bucket.put_bytes(key, body)
    with capture_logs() as logs:
        assert claim(bucket, key, policy) is None
    assert not bucket.exists(key)
    assert [e["inbox_key"] for e in logs if e["event"] == "inbox_duplicate_retired"] == [key]


def test_a_stalled_store_fails_the_job_within_the_stall_limit(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A proxy that never answers GETs of the clip: every read times out, the job fails as
    storage_unavailable (retryable, for the nightly run) and the worker exits."""
    clip, truth = make_clip(tmp_path, duration_s=1.0)
    client = ReelpipeClient(bucket, "u")
    job_id = overlay_job(client, clip, truth)

    def stall_clip_reads(line: str) -> Stall | None:
        return Stall() if line.startswith("GET ") and ".mp4" in line else None

    proxy = FaultyProxy(int(str(settings.storage.endpoint_url).rsplit(":", 1)[1]), stall_clip_reads)
    env = worker_env(
        settings,
        proxy.endpoint_url,
        REELPIPE_S3_READ_TIMEOUT_S="1",
        REELPIPE_S3_MAX_ATTEMPTS="2",
        REELPIPE_MEDIA_READ_TIMEOUT_S="1",
        REELPIPE_PROBE_TIMEOUT_S="10",
        REELPIPE_STALL_LIMIT_S="20",
        REELPIPE_LEASE_TTL_S="6",
    )
    began = time.monotonic()
    try:
        with reaped(spawn("scan", "--once", env=env)) as worker:
            _, err = worker.communicate(timeout=120)
    finally:
        proxy.close()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert time.monotonic() - began < 60
    final = client.status(job_id)
    assert final is not None and final.state is JobState.FAILED
    assert final.error is not None and final.error.kind.value == "storage_unavailable"
    assert final.error.kind.transient
    assert final.stages[StageName.OVERLAY].attempts == 3


def test_deep_json_is_refused_at_the_cli_the_inbox_and_the_webhook(
    bucket: Bucket, settings: Settings, tmp_path: Path, served_on_bucket: Any
) -> None:
    """A manifest nested 100,000 deep: exit 2 with one line at the CLI, invalid_manifest once
    from the inbox (not re-dispatched), 400 from the webhook; nothing crashes."""
    manifest = tmp_path / "deep.json"
    manifest.write_bytes(DEEP)
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    env = worker_env(settings)
    for command in (["process", str(clip)], ["submit", str(clip), "--user", "u"]):
        run = spawn(*command, "--manifest", str(manifest), env=env)
        _out, err = run.communicate(timeout=60)
        assert run.returncode == 2, err
        assert "Traceback" not in err and err.strip().count("\n") == 0
        assert "nested more than" in err

    client = ReelpipeClient(bucket, "deep")
    inbox = submit_manifest(bucket, "deep", DEEP, request_id="deep1")
    final = client.wait(inbox.job_id, poll_s=0.2, timeout_s=60)
    assert final.state is JobState.FAILED and final.error is not None
    assert final.error.kind.value == "invalid_manifest" and "nested" in final.error.message
    assert final.attempts <= 1 and not bucket.exists(inbox.inbox_key)

    url, secret = served_on_bucket
    request = urllib.request.Request(
        f"{url}/events", data=DEEP, headers=signed_headers(secret, DEEP), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "nested" in refused.value.read().decode()


@pytest.fixture
def served_on_bucket(settings: Settings, tmp_path: Path) -> Any:
    """`reelpipe serve` against the test bucket; yields (webhook URL, webhook secret)."""
    port = free_ports()[0]
    env = worker_env(settings, REELPIPE_SCAN_PERIOD_S="0.3", REELPIPE_WEBHOOK_SECRET="s3cret")
    with reaped(spawn("serve", "--webhook-port", str(port), env=env)) as proc:
        assert proc.stdout is not None
        wait_until(lambda: "workers" in proc.stdout.readline(), timeout_s=30, what="serve")
        yield f"http://127.0.0.1:{port}", "s3cret"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_huge_unsigned_chunked_post_costs_little_and_blocks_nobody(
    settings: Settings, served_on_bucket: Any
) -> None:
    """100 MB sent chunked without a signature: refused at the 1 MB limit with 413, serve's
    memory grows by less than 64 MB, and a small request meanwhile is answered in < 2 s."""
    url, _ = served_on_bucket
    port = int(url.rsplit(":", 1)[1])
    pid = _listening_pid(port)
    before = rss_bytes(pid)
    sent = [0]
    answer: list[bytes] = []

    def flood() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/json\r\n\r\n"
            )
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(100):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered 413 and closed the connection
            try:
                answer.append(sock.recv(200))
            except OSError:
                answer.append(b"")

    flooder = threading.Thread(target=flood)
    flooder.start()
    time.sleep(0.2)
    began = time.monotonic()
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
        assert resp.status == 200
    assert time.monotonic() - began < 2.0
    flooder.join(60)
    assert answer and (answer[0] == b"" or b"413" in answer[0].split(b"\r\n")[0])
    assert rss_bytes(pid) - before < 64 * 1024 * 1024


def _listening_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (from /proc: no extra tools)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for line in fh.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inode = fields[9]
    assert inode is not None, f"nothing listens on {port}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return int(pid)
        except OSError:
            continue
    raise AssertionError(f"no process holds the socket of port {port}")


def _start_serve(data_dir: Path, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    env = {
        **os.environ,
        "REELPIPE_SCAN_PERIOD_S": "0.3",
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        "REELPIPE_X264_PRESET": "slow",
    }
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REELPIPE_ENDPOINT_URL"):
        env.pop(var, None)
    port, webhook_port = free_ports(2)
    proc = spawn(
        "serve",
        "--port",
        str(port),
        "--webhook-port",
        str(webhook_port),
        "--data-dir",
        str(data_dir),
        env=env,
    )
    assert proc.stdout is not None
    announced: dict[str, str] = {}
    while "workers" not in announced:
        line = proc.stdout.readline()
        assert line, f"serve exited: {proc.stderr.read() if proc.stderr else ''}"
        key, _, value = line.partition(":")
        announced[key.strip()] = value.strip()
    return proc, announced


def _bucket_of(announced: dict[str, str]) -> Bucket:
    settings = Settings.from_env(
        {
            "REELPIPE_ENDPOINT_URL": announced["S3 endpoint"],
            "AWS_ACCESS_KEY_ID": announced["access key"],
            "AWS_SECRET_ACCESS_KEY": announced["secret key"],
        },
        bucket=announced["bucket"],
    )
    return Bucket(make_s3_client(settings), settings.storage.bucket)


def test_the_embedded_store_survives_a_restart(tmp_path: Path) -> None:
    """`serve --data-dir`: after SIGTERM and a restart, a finished job's status and output
    are still there (same ETags), a job stopped mid-stage resumes and succeeds, and the
    generated webhook secret is the same."""
    data_dir = tmp_path / "data"
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=3.0)
    proc, first = _start_serve(data_dir, tmp_path)
    with reaped(proc):
        assert first["data dir"] == str(data_dir)
        client = ReelpipeClient(_bucket_of(first), "alice")
        done_id = client.submit(clip, job_manifest(framing={})).job_id
        done = client.wait(done_id, poll_s=0.2, timeout_s=120)
        assert done.state is JobState.SUCCEEDED and done.output_key is not None
        etags = {k: client.bucket.head(k).etag for k in (status_key_of(done), done.output_key)}
        running_id = overlay_job(client, clip, truth)
        wait_until(
            lambda: stage_running(client, running_id, StageName.OVERLAY),
            timeout_s=120,
            what="the second job's overlay",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    proc, second = _start_serve(data_dir, tmp_path)
    with reaped(proc):
        assert second["webhook key"] == first["webhook key"]
        client = ReelpipeClient(_bucket_of(second), "alice")
        assert {k: client.bucket.head(k).etag for k in etags} == etags
        assert client.status(done_id) == done
        resumed = client.wait(running_id, poll_s=0.2, timeout_s=120)
        assert resumed.state is JobState.SUCCEEDED, resumed.error
        assert resumed.runs.handbacks == 1 and resumed.runs.deaths == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_progress_writes_that_fail_never_abort_the_stage(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Status writes stall for a while mid-overlay: the failed progress writes are logged
    and tried again, the stage runs on (one attempt) and the job succeeds."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=6.0)
    client = ReelpipeClient(bucket, "u")
    job_id = overlay_job(client, clip, truth)
    failing = threading.Event()

    def stall_status_writes(line: str) -> Stall | None:
        writing = line.startswith("PUT ") and "status.json" in line
        return Stall() if writing and failing.is_set() else None

    proxy = FaultyProxy(
        int(str(settings.storage.endpoint_url).rsplit(":", 1)[1]), stall_status_writes
    )
    env = worker_env(
        settings,
        proxy.endpoint_url,
        REELPIPE_S3_READ_TIMEOUT_S="0.5",
        REELPIPE_S3_MAX_ATTEMPTS="1",
        REELPIPE_X264_PRESET="slow",
    )
    try:
        with reaped(spawn("scan", "--once", env=env)) as worker:
            wait_until(
                lambda: stage_running(client, job_id, StageName.OVERLAY),
                timeout_s=120,
                what="overlay",
            )
            failing.set()
            time.sleep(1.5)
            failing.clear()
            _, err = worker.communicate(timeout=180)
    finally:
        proxy.close()
    assert "progress_write_failed" in err
    final = client.status(job_id)
    assert final is not None and final.state is JobState.SUCCEEDED, final.error
    assert final.stages[StageName.OVERLAY].attempts == 1


def _children_cmdlines(name: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and f"({name})" in stat and cmdline:  # empty: it just exited
            found.append(cmdline)
    return found


def test_no_signed_url_reaches_a_command_line(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """While ffprobe reads a clip in place, its command line (what `ps` shows) names only
    the loopback relay: no signature, no credential."""
    from pipeline.jobs.segments import probe_stage_input

    clip, _ = make_clip(tmp_path, duration_s=2.0)
    key = "users/u/clips/clip.mp4"
    bucket.upload_file(clip, key)

    def slow_clip_reads(line: str) -> Delay | None:
        return Delay(0.3) if line.startswith("GET ") and ".mp4" in line else None

    proxy = FaultyProxy(int(str(settings.storage.endpoint_url).rsplit(":", 1)[1]), slow_clip_reads)
    proxied = Bucket(
        make_s3_client(settings.replace(endpoint_url=proxy.endpoint_url)),
        settings.storage.bucket,
    )
    seen: list[str] = []
    probing = threading.Thread(target=probe_stage_input, args=(proxied, key, settings))
    try:
        probing.start()
        while probing.is_alive():
            seen += _children_cmdlines("ffprobe")
            time.sleep(0.01)
        probing.join()
    finally:
        proxy.close()
    assert seen, "ffprobe was never seen running"
    for cmdline in seen:
        assert "Signature" not in cmdline and "Credential" not in cmdline
        assert "test-access-key" not in cmdline and proxy.endpoint_url not in cmdline
        assert "http://127.0.0.1:" in cmdline


def test_cancel_from_another_process_stops_a_running_worker_at_a_frame(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """``reelpipe cancel`` while a ``scan`` process runs the overlay: the worker stops within
    seconds (not at the end of the stage), exits 0, and the job ends ``cancelled``; the
    clip stays, and no other worker takes the job up again."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=10.0)
    client = ReelpipeClient(bucket, "u")
    job_id = overlay_job(client, clip, truth)
    # Progress (where a worker meets a cancel) every 0.1 s, and an encode slow enough that
    # the cancel, sent by a fresh process, lands well before the last frame.
    env = worker_env(settings, REELPIPE_X264_PRESET="veryslow", REELPIPE_PROGRESS_INTERVAL_S="0.1")
    with reaped(spawn("scan", "--once", env=env)) as worker:
        wait_until(
            partial(overlay_attempt_before, client, job_id, 1, 30.0),
            timeout_s=120,
            what="the overlay to start",
        )
        cancel = spawn("cancel", job_id, "--user", "u", "--json", env=env)
        out, err = cancel.communicate(timeout=60)
        assert cancel.returncode == 0, err
        assert json.loads(out)["changed"] is True
        asked_at = time.monotonic()
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert time.monotonic() - asked_at < 5.0
    final = client.status(job_id)
    assert final is not None and final.state is JobState.CANCELLED
    assert final.stages[StageName.OVERLAY].state is StageState.CANCELLED
    assert final.stages[StageName.OVERLAY].progress < 100 and final.output_key is None
    assert final.lease is None and final.cancel_requested_at is not None
    assert not bucket.exists(f"active/u/{job_id}")
    assert bucket.exists(final.input_key or "")
    again = spawn("scan", "--once", env=env)
    again.communicate(timeout=60)
    assert client.status(job_id) == final  # nothing runs a cancelled job again

"""Every user mistake gets one line on stderr and a documented exit code, never a traceback.

0 success, 1 the job failed (or unknown), 2 usage or invalid input, 3 store unreachable,
4 --watch timed out, 130 interrupted, 141 output closed.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from pipeline.client.submit import submit_manifest
from pipeline.core.settings import Settings
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.faults import free_ports, spawn, wait_until, worker_env


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    docs = {
        "empty": b"",
        "object": b"{}",
        "list": b"[]",
        "deep": b"[" * 5000,
        "unknown": b'{"stages": {"framing": {}}, "evil": 1}',
        "escape": b'{"input_key": "../x/clip.mp4", "stages": {"framing": {}}}',
        "nan": b'{"stages": {"framing": {"trim": {"start_s": NaN, "end_s": 1}}}}',
    }
    made = {"clip": clip, "missing": tmp_path / "missing.json", "dir": tmp_path}
    made["zero"] = tmp_path / "zero.mp4"
    made["zero"].symlink_to("/dev/zero")  # would never end: refused before any upload
    for name, body in docs.items():
        (tmp_path / f"{name}.json").write_bytes(body)
        made[name] = tmp_path / f"{name}.json"
    return made


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["process", "{missing}"], 2, "no such clip"),
        (["process", "{zero}"], 2, "not a regular file (a device, pipe or socket)"),
        (["submit", "{zero}"], 2, "zero.mp4"),
        (["process", "{dir}"], 2, "the clip is a directory"),
        (["process", "{clip}", "--manifest", "{missing}"], 2, "cannot read the manifest"),
        (["process", "{clip}", "--manifest", "{dir}"], 2, "cannot read the manifest"),
        (["submit", "{clip}", "--manifest", "{empty}"], 2, "not valid JSON"),
        (["submit", "{clip}", "--manifest", "{object}"], 2, "is empty"),
        (["submit", "{clip}", "--manifest", "{list}"], 2, "not a JSON object"),
        (["submit", "{clip}", "--manifest", "{deep}"], 2, "nested more than"),
        (["submit", "{clip}", "--manifest", "{unknown}"], 2, "evil: Extra inputs"),
        (["process", "{clip}", "--manifest", "{escape}"], 2, "contains a '..' segment"),
        (["submit", "{clip}", "--manifest", "{nan}"], 2, "NaN is not a JSON value"),
        (["serve", "--workers", "0"], 2, "--workers must be at least 1"),
        (["status", "not-a-job-id"], 2, "is not 20 lowercase hex digits"),
        (["status", "0123456789abcdef0123", "--user", "u"], 1, "no such job"),
    ],
)
def test_mistakes_get_one_line_and_an_exit_code(
    bucket: Bucket,
    settings: Settings,
    files: dict[str, Path],
    args: list[str],
    code: int,
    says: str,
) -> None:
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    proc = spawn(*argv, env=worker_env(settings))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert says in one_line(err)


def test_a_symlinked_clip_is_named_as_the_user_named_it(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The error names the link the user gave, not the file it points to."""
    target = tmp_path / "hidden-target-name.bin"
    target.write_bytes(b"not a video at all" * 100)
    link = tmp_path / "my-game.mp4"
    link.symlink_to(target)
    proc = spawn("process", str(link), "--out", str(tmp_path / "out"), env=worker_env(settings))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    line = one_line(err)
    assert "my-game.mp4" in line and "hidden-target-name" not in line, line


def test_an_unreachable_store_is_exit_3_with_a_hint(settings: Settings) -> None:
    env = worker_env(settings, f"http://127.0.0.1:{free_ports()[0]}", REELPIPE_S3_MAX_ATTEMPTS="1")
    proc = spawn("status", "0123456789abcdef0123", "--user", "u", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    line = one_line(err)
    assert "unreachable" in line and "reelpipe serve" in line and "REELPIPE_ENDPOINT_URL" in line


def test_watch_gives_up_at_its_timeout_and_ctrl_c_is_130(
    bucket: Bucket, settings: Settings
) -> None:
    """A job nobody claims: `status --watch --timeout 1` exits 4; Ctrl-C exits 130."""
    pending = submit_manifest(bucket, "u", job_manifest(framing={}))
    env = worker_env(settings)
    watch = spawn("status", pending.job_id, "--user", "u", "--watch", "--timeout", "1", env=env)
    _, err = watch.communicate(timeout=60)
    assert watch.returncode == 4 and "did not finish within 1 s" in one_line(err)

    waiting = spawn("status", pending.job_id, "--user", "u", "--watch", env=env)
    time.sleep(2.0)
    waiting.send_signal(signal.SIGINT)
    _, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 130 and one_line(err) == "interrupted"


def test_a_closed_output_pipe_is_exit_141_without_a_traceback(
    bucket: Bucket, settings: Settings
) -> None:
    """`reelpipe status --json | head -c0`: the reader is gone before anything is printed."""
    pending = submit_manifest(bucket, "u", job_manifest(framing={}))
    proc = spawn("status", pending.job_id, "--user", "u", "--json", env=worker_env(settings))
    assert proc.stdout is not None
    proc.stdout.close()
    proc.wait(timeout=60)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.returncode == 141 and "Traceback" not in err


def test_process_that_ends_waiting_for_its_clip_says_so(
    bucket: Bucket, settings: Settings, files: dict[str, Path], tmp_path: Path
) -> None:
    manifest = tmp_path / "elsewhere.json"
    manifest.write_text(
        json.dumps({"input_key": "clips/not-there.mp4", **job_manifest(framing={})})
    )
    proc = spawn(
        "process",
        str(files["clip"]),
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "o"),
        env=worker_env(settings),
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    line = one_line(err)
    assert "waiting for the clip to be uploaded" in line
    assert "no such clip at 'users/local/clips/not-there.mp4'" in line


def test_serve_stops_when_its_webhook_port_is_taken(settings: Settings) -> None:
    """A port another process holds: exit 2 with one line, no URL of the other process."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        proc = spawn("serve", "--webhook-port", str(port), env=worker_env(settings))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"cannot serve the webhook on 127.0.0.1:{port}" in one_line(err)
    assert "webhook:" not in out


def test_serve_stops_with_one_line_when_its_s3_port_is_taken(tmp_path: Path) -> None:
    """The embedded store's port held by another process: exit 2, one line naming --port."""
    s3_port, webhook_port = free_ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", s3_port))
        holder.listen(1)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        args = ["--port", str(s3_port), "--webhook-port", str(webhook_port)]
        proc = spawn("serve", "--in-memory", *args, env=env)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    line = one_line(err)
    assert f"cannot serve S3 on 127.0.0.1:{s3_port}" in line and "--port" in line
    assert out == ""


def test_serve_checks_its_webhook_port_before_starting_the_embedded_store(
    tmp_path: Path,
) -> None:
    """Both ports held by another process: the webhook's is named, and the embedded store
    never started (it would have failed first, on its own port, or run half-started)."""
    s3_port, webhook_port = free_ports(2)
    with socket.socket() as s3_holder, socket.socket() as webhook_holder:
        s3_holder.bind(("127.0.0.1", s3_port))
        s3_holder.listen(1)
        webhook_holder.bind(("127.0.0.1", webhook_port))
        webhook_holder.listen(1)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        args = ["--port", str(s3_port), "--webhook-port", str(webhook_port)]
        proc = spawn("serve", "--data-dir", str(tmp_path / "store"), *args, env=env)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"cannot serve the webhook on 127.0.0.1:{webhook_port}" in one_line(err)
    assert out == ""
    assert not (tmp_path / "store").exists()


def test_serve_prints_the_webhook_secret_it_generated(settings: Settings) -> None:
    """With --endpoint-url and no REELPIPE_WEBHOOK_SECRET, senders learn the generated one."""
    env = worker_env(settings)
    env.pop("REELPIPE_WEBHOOK_SECRET", None)
    proc = spawn("serve", "--webhook-port", str(free_ports()[0]), env=env)
    try:
        assert proc.stdout is not None
        line = wait_until(
            lambda: (text := proc.stdout.readline()) and text.startswith("webhook key") and text,
            timeout_s=30,
            what="the webhook key line",
        )
        assert len(line.split(":", 1)[1].strip()) >= 24
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert "test-secret-key-do-not-log" not in out + err
    assert proc.returncode == 0, err

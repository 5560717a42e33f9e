"""The README's snippets, run as a new user copies them: the Python client against a live
store and worker, the inbox upload with the aws CLI against a real `serve`, and the
callback receiver against reelpipe's own signatures."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from standardwebhooks import WebhookVerificationError

from pipeline.core.settings import Settings
from pipeline.jobs.callback_delivery import Delivery, headers_for, signer
from pipeline.manifests.job import CallbackEvent
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.faults import announcement, free_ports, reaped, spawn, worker_env

README = Path(__file__).resolve().parents[2] / "README.md"
VENV_BIN = Path(sys.executable).parent


def snippet(marker: str, language: str) -> str:
    """The first ``language`` block after ``<!-- marker -->``."""
    text = README.read_text()
    block = text[text.index(f"<!-- {marker} -->") :]
    found = re.search(rf"```{language}\n(.*?)```", block, re.S)
    assert found is not None, marker
    return found.group(1)


@pytest.mark.timeout(180)
def test_the_python_client_snippet_runs_as_written(
    bucket: Bucket, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its imports and bucket are in it: run in a folder holding game.mp4, with the
    documented environment, while a worker scans, it prints the job's phases (queued to
    complete) and then `succeeded` with the output's key."""
    make_clip(tmp_path, "game.mp4", duration_s=1.0)
    env = worker_env(settings, REELPIPE_SCAN_PERIOD_S="0.2")
    for name in ("REELPIPE_ENDPOINT_URL", "REELPIPE_BUCKET", "AWS_ACCESS_KEY_ID"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with reaped(spawn("scan", env=env)) as worker:
        with redirect_stdout(printed):
            exec(compile(snippet("client-snippet", "python"), "README.md", "exec"), {})
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    lines = printed.getvalue().splitlines()
    assert lines[-1].startswith("succeeded users/alice/jobs/"), lines
    assert lines[0].startswith("queued") and "complete 100.0 complete" in lines, lines


@pytest.mark.skipif(shutil.which("aws", path=str(VENV_BIN)) is None, reason="no aws CLI")
def test_the_inbox_upload_snippet_runs_as_written(tmp_path: Path) -> None:
    """Against a real `serve` (its port in place of 9000): the aws CLI uploads the clip and
    a manifest that names it with input_key, and the job behind req-1 succeeds."""
    s3_port, webhook_port = free_ports(2)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELPIPE_", "AWS_"))}
    env["REELPIPE_WARM"] = "off"  # each command in its own process (the warm tests: their own)
    env |= {
        "HOME": str(home),
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        "REELPIPE_SCAN_PERIOD_S": "0.2",
        "REELPIPE_X264_PRESET": "veryfast",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(VENV_BIN.parent)  # the README's commands say .venv/bin/...
    make_clip(work, "game.mp4", duration_s=1.0)
    script = snippet("inbox-upload-snippet", "bash").replace(":9000", f":{s3_port}")
    ports = ["--port", str(s3_port), "--webhook-port", str(webhook_port)]
    client_env = {**env, "REELPIPE_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}"}  # not 9000
    with reaped(spawn("serve", *ports, env=env)) as serve:
        announcement(serve)
        copied = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env=client_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert copied.returncode == 0, copied.stderr
        status = ["status", "--request", "req-1", "--user", "alice", "--watch", "--timeout", "90"]
        watched = spawn(*status, env=client_env, cwd=work)
        out, err = watched.communicate(timeout=120)
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)
    assert watched.returncode == 0, err
    assert "state:    succeeded" in out, out


def test_the_callback_receiver_snippet_verifies_reelpipes_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delivery signed as reelpipe signs it is accepted and read; a forged body and a
    stale timestamp are refused by the snippet's one verify call."""
    code = snippet("callback-receiver-snippet", "python")
    body_lines = code.split("@receiver.post", 1)[1].splitlines()
    assert len([line for line in body_lines if line.strip()]) <= 4  # the route: 5 lines in all
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    monkeypatch.setenv("REELPIPE_CALLBACK_SECRET", secret)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    body = '{"type":"job.succeeded","data":{"job_id":"0123456789abcdef0123","state":"succeeded"}}'
    delivery = Delivery(
        "alice",
        "0123456789abcdef0123",
        "users/alice/jobs/0123456789abcdef0123/status.json",
        CallbackEvent.SUCCEEDED,
        "https://app.example/hooks/reelpipe",
        "msg_0123456789abcdef0123_1_succeeded",
        body,
    )
    headers = headers_for(delivery, signer(SecretStr(secret)), datetime.now(UTC))
    with TestClient(namespace["receiver"]) as http:  # type: ignore[arg-type]
        answer = http.post("/hooks/reelpipe", content=body, headers=headers)
        assert answer.status_code == 200
        assert answer.json() == {"job_id": "0123456789abcdef0123", "state": "succeeded"}
        with pytest.raises(WebhookVerificationError):
            http.post(
                "/hooks/reelpipe", content=body.replace("succeeded", "failed"), headers=headers
            )
        stale = headers_for(delivery, signer(SecretStr(secret)), datetime(2020, 1, 1, tzinfo=UTC))
        with pytest.raises(WebhookVerificationError):
            http.post("/hooks/reelpipe", content=body, headers=stale)

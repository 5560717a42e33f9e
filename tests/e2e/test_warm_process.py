"""`reelpipe process` handed to a warm worker: started by a cold run, used by the next,
the same output and exit codes, signals sent on, a killed command's job stopped, and the
worker gone when idle. Real processes and sockets, each test in a runtime folder of its
own; every wait has a timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import psutil
import pytest

from pipeline.cli import warm_place as warm_place_module
from pipeline.cli.warm_client import ask_warm_worker
from pipeline.cli.warm_place import UnsafePlace, code_digest, warm_place
from tests.factories import make_clip
from tests.faults import wait_until

COMMAND = [sys.executable, "-m", "pipeline.cli.main"]


def warm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment with nothing configured but a warm worker, in its own folder."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELPIPE_", "AWS_"))}
    return {
        **env,
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(runtime),
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        "REELPIPE_X264_PRESET": "veryfast",
        "REELPIPE_WARM": "on",
        "REELPIPE_WARM_IDLE_S": "120",
        **extra,
    }


def process(
    tmp_path: Path, env: dict[str, str], *args: str, under: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`reelpipe process ARGS` run to its end (``under``: a command it runs under)."""
    return subprocess.run(
        [*under, *COMMAND, "process", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def started(
    tmp_path: Path, env: dict[str, str], clip: Path, out: str, **popen: Any
) -> subprocess.Popen[str]:
    """`reelpipe process CLIP --out OUT` started, its output piped."""
    return subprocess.Popen(
        [*COMMAND, "process", str(clip), "--out", str(tmp_path / out)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def ready(env: dict[str, str]) -> dict[str, Any] | None:
    """The worker's state once it serves with its next store started, else None."""
    state = ask_warm_worker(env)
    return state if state is not None and state["store_ready"] and not state["jobs"] else None


@pytest.fixture
def stopped_after(tmp_path: Path) -> Iterator[list[dict[str, str]]]:
    """Environments whose warm worker is stopped (and waited for) after the test."""
    envs: list[dict[str, str]] = []
    yield envs
    for env in envs:
        state = ask_warm_worker(env, stop=True)
        if state is not None:
            psutil.wait_procs([psutil.Process(state["pid"])], timeout=30)


def warm_worker(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """A cold run, which starts the worker; its state once it is ready."""
    clip, _ = make_clip(tmp_path, "first.mp4", duration_s=1.0)
    cold = process(tmp_path, env, str(clip), "--out", str(tmp_path / "cold"))
    assert cold.returncode == 0, cold.stderr
    assert "starts a warm worker" in cold.stderr
    return wait_until(lambda: ready(env), timeout_s=90, what="the warm worker")


def test_the_next_process_runs_in_the_warm_worker(
    tmp_path: Path, stopped_after: list[dict[str, str]]
) -> None:
    """A cold `process` starts the worker; the next one is served by it (its count goes
    up, and the command's own process starts no store of its own), with the cold
    command's output: the video, the status and the printed paths."""
    env = warm_env(tmp_path)
    stopped_after.append(env)
    before = warm_worker(tmp_path, env)
    assert before["served"] == 0
    clip, _ = make_clip(tmp_path, "second.mp4", duration_s=2.0)
    with started(tmp_path, env, clip, "warm") as client:
        stores = []
        while client.poll() is None:
            stores += [c for c in _children(client.pid) if "embedded_process" in c]
            time.sleep(0.02)
        out, err = client.communicate(timeout=180)
    assert client.returncode == 0, err
    assert stores == []
    assert "starts a warm worker" not in err
    after = wait_until(lambda: ready(env), timeout_s=60, what="the worker ready again")
    assert after["served"] == 1 and after["pid"] == before["pid"]
    assert f"output:     {tmp_path / 'warm' / 'output.mp4'}" in out
    status = json.loads((tmp_path / "warm" / "status.json").read_text())
    assert status["state"] == "succeeded"
    with av.open(str(tmp_path / "warm" / "output.mp4")) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and video.format.name == "yuv420p"
        assert sum(1 for _ in container.decode(video=0)) == 60
        assert container.streams.audio


def _children(pid: int) -> list[str]:
    try:
        return [" ".join(c.cmdline()) for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def test_a_warm_failure_exits_as_a_cold_one(
    tmp_path: Path, stopped_after: list[dict[str, str]]
) -> None:
    """A clip that is no video: exit 1 and the job's error on the command's own stderr,
    with no worker path in it, exactly as a cold run says it."""
    env = warm_env(tmp_path)
    stopped_after.append(env)
    warm_worker(tmp_path, env)
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"this is not a video at all" * 100)
    warm = process(tmp_path, env, str(bad), "--out", str(tmp_path / "bad-warm"))
    cold = process(tmp_path, {**env, "REELPIPE_WARM": "off"}, str(bad), "--out", "bad-cold")
    assert warm.returncode == cold.returncode != 0
    said = [line for line in warm.stderr.splitlines() if not line.startswith("{")]
    assert said == [line for line in cold.stderr.splitlines() if not line.startswith("{")]
    assert "warm" not in warm.stderr
    assert ask_warm_worker(env)["served"] == 1  # type: ignore[index]


def test_signals_reach_the_warm_job_and_a_killed_command_stops_it(
    tmp_path: Path, stopped_after: list[dict[str, str]]
) -> None:
    """Ctrl-C to the command is sent on to its job: "interrupted" and 130, as cold. A
    command killed outright (SIGKILL, nothing sent on) has its job stopped by the worker,
    its ffmpeg with it; so has each job of a worker stopped by SIGTERM."""
    env = warm_env(tmp_path, REELPIPE_X264_PRESET="placebo")  # an encode far longer
    stopped_after.append(env)
    state = warm_worker(tmp_path, {**env, "REELPIPE_X264_PRESET": "veryfast"})
    clip, _ = make_clip(tmp_path, "long.mp4", width=640, height=360, duration_s=6.0)
    worker = psutil.Process(state["pid"])

    def running() -> list[psutil.Process]:
        return _ffmpeg_under(worker)

    for signum, code in ((signal.SIGINT, 130), (signal.SIGKILL, -9)):
        client = started(tmp_path, env, clip, f"out-{signum}")
        ffmpeg = wait_until(running, timeout_s=90, what="the warm job's ffmpeg")
        client.send_signal(signum)
        _, err = client.communicate(timeout=60)
        assert client.returncode == code, err
        if signum == signal.SIGINT:
            said = [line for line in err.splitlines() if not line.startswith("{")]
            assert said[-1] == "interrupted", err
        _, alive = psutil.wait_procs(ffmpeg, timeout=30)
        assert not alive
        wait_until(lambda: ready(env), timeout_s=60, what="the worker idle again")
    # SIGTERM to the worker itself (a shutdown): its job stops as on its own SIGTERM, the
    # command says so with 143, and the worker is gone.
    client = started(tmp_path, env, clip, "out-worker-stopped")
    ffmpeg = wait_until(running, timeout_s=90, what="the warm job's ffmpeg")
    worker.send_signal(signal.SIGTERM)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 143, err
    assert "terminated (SIGTERM)" in err
    _, alive = psutil.wait_procs([worker, *ffmpeg], timeout=30)
    assert not alive


def test_an_idle_worker_ends_itself_and_off_starts_none(tmp_path: Path) -> None:
    """REELPIPE_WARM_IDLE_S after its last command the worker is gone with its socket;
    REELPIPE_WARM=off neither uses nor starts one."""
    env = warm_env(tmp_path, REELPIPE_WARM_IDLE_S="2")
    state = warm_worker(tmp_path, env)
    psutil.wait_procs([psutil.Process(state["pid"])], timeout=30)
    assert ask_warm_worker(env) is None
    assert not warm_place(env).socket.exists()
    clip, _ = make_clip(tmp_path, "off.mp4", duration_s=1.0)
    off = process(tmp_path, {**env, "REELPIPE_WARM": "off"}, str(clip), "--out", "off")
    assert off.returncode == 0, off.stderr
    assert "starts a warm worker" not in off.stderr
    assert ask_warm_worker(env) is None


def test_the_socket_is_per_code_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another PYTHONPATH or a changed module file is another worker (a setting is not:
    the fork reads the command's own); a runtime folder others may enter is refused, and
    the one made is the user's alone."""
    env = warm_env(tmp_path)
    package = tmp_path / "package"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "module.py"
    module.write_text("A = 1\n")
    monkeypatch.setattr(warm_place_module, "PACKAGE_DIR", package)
    first = code_digest(env)
    module.write_text("A = 22\n")
    assert code_digest(env) != first
    place = warm_place(env)
    assert place.socket.parent.stat().st_mode & 0o777 == 0o700
    assert code_digest(env) == code_digest(dict(env))
    assert code_digest({**env, "PYTHONPATH": str(tmp_path)}) != code_digest(env)
    assert code_digest({**env, "REELPIPE_BUCKET": "x"}) == code_digest(env)
    open_folder = tmp_path / "open"
    (open_folder / "reelpipe").mkdir(parents=True)
    (open_folder / "reelpipe").chmod(0o777)
    with pytest.raises(UnsafePlace):
        warm_place({**env, "XDG_RUNTIME_DIR": str(open_folder)})


def test_usage_errors_and_refusals_end_as_cold_runs(
    tmp_path: Path, stopped_after: list[dict[str, str]]
) -> None:
    """An unknown option: exit 2 and argparse's own lines, as cold. A command under
    another niceness is refused (its job would run with the worker's) and runs itself."""
    env = warm_env(tmp_path)
    stopped_after.append(env)
    warm_worker(tmp_path, env)
    warm = process(tmp_path, env, "--no-such-option")
    cold = process(tmp_path, {**env, "REELPIPE_WARM": "off"}, "--no-such-option")
    assert warm.returncode == cold.returncode == 2
    assert warm.stderr == cold.stderr
    clip, _ = make_clip(tmp_path, "nice.mp4", duration_s=1.0)
    served = ask_warm_worker(env)["served"]  # type: ignore[index]
    niced = process(tmp_path, env, str(clip), "--out", "nice", under=("nice", "-n", "5"))
    assert niced.returncode == 0, niced.stderr
    assert ask_warm_worker(env)["served"] == served  # type: ignore[index]


def test_a_closed_stdin_or_a_dead_worker_never_leaves_a_job_running(
    tmp_path: Path, stopped_after: list[dict[str, str]]
) -> None:
    """A command started with its stdin closed and then killed: its job is stopped (the
    socket never stands in for the closed stream). A worker killed outright mid-job: the
    command stops the job itself, says so, and exits 1."""
    env = warm_env(tmp_path, REELPIPE_X264_PRESET="placebo")
    stopped_after.append(env)
    state = warm_worker(tmp_path, {**env, "REELPIPE_X264_PRESET": "veryfast"})
    worker = psutil.Process(state["pid"])
    clip, _ = make_clip(tmp_path, "long.mp4", width=640, height=360, duration_s=6.0)
    client = started(tmp_path, env, clip, "closed-stdin", preexec_fn=lambda: os.close(0))
    ffmpeg = wait_until(lambda: _ffmpeg_under(worker), timeout_s=90, what="the job's ffmpeg")
    client.kill()
    client.communicate(timeout=60)
    _, alive = psutil.wait_procs(ffmpeg, timeout=30)
    assert not alive
    wait_until(lambda: ready(env), timeout_s=60, what="the worker idle again")
    client = started(tmp_path, env, clip, "dead-worker")
    ffmpeg = wait_until(lambda: _ffmpeg_under(worker), timeout_s=90, what="the job's ffmpeg")
    worker.kill()
    _, err = client.communicate(timeout=90)
    assert client.returncode == 1, err
    assert "the warm worker ended during the job" in err
    _, alive = psutil.wait_procs(ffmpeg, timeout=30)
    assert not alive


def _ffmpeg_under(worker: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in worker.children(recursive=True):
        try:
            if child.name() == "ffmpeg":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found

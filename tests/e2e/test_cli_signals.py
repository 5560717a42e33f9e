"""Signals and ports at the edges: what a supervisor, `timeout`, a closed terminal or a
second `serve` meets. Real processes, real sockets; every wait has a timeout."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import psutil
import pytest

from pipeline.core.listening import PortTaken, Wanted, listen_on_all
from tests.factories import make_clip
from tests.faults import announcement, free_ports, reaped, spawn, wait_until


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, err
    return lines[0]


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment with nothing configured: the embedded store, scratch here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELPIPE_", "AWS_"))}
    env["REELPIPE_WARM"] = "off"  # each command in its own process (the warm tests: their own)
    return {
        **env,
        "HOME": str(tmp_path),
        "REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"),
        **extra,
    }


def living_children(pid: int) -> dict[psutil.Process, str]:
    """The process's descendants with their command lines, leaving out any that end while
    they are read (a probe, a short ffmpeg): the ones the test waits on run for minutes."""
    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found[child] = " ".join([child.name(), *child.cmdline()])
        except psutil.NoSuchProcess:
            continue
    return found


def ffmpeg_children(pid: int) -> list[psutil.Process]:
    return [p for p, line in living_children(pid).items() if line.startswith("ffmpeg ")]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_process_like_ctrl_c(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    """Mid-encode, SIGTERM (a supervisor, `timeout`) or SIGHUP (a closed terminal) to
    `reelpipe process` alone: one line, exit 128 + the signal, and its ffmpeg (in a group
    of its own, out of the signal's reach) and the embedded store's process end with it."""
    clip, _ = make_clip(tmp_path, width=640, height=360, duration_s=6.0)
    env = local_env(tmp_path, REELPIPE_X264_PRESET="placebo")  # an encode far longer than the test
    with reaped(spawn("process", str(clip), "--out", str(tmp_path / "out"), env=env)) as proc:
        wait_until(lambda: ffmpeg_children(proc.pid), timeout_s=60, what="the stage's ffmpeg")
        children = living_children(proc.pid)
        assert any(line.startswith("ffmpeg ") for line in children.values())
        assert any("embedded_process" in line for line in children.values())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert one_line(err) == f"terminated ({signal.Signals(signum).name})"
    _, alive = psutil.wait_procs(list(children), timeout=10)
    assert not alive, [p.cmdline()[:3] for p in alive]


def test_serve_stopped_with_ctrl_c_exits_130_and_with_sigterm_0(tmp_path: Path) -> None:
    """The README's table: Ctrl-C is 130 for `serve` too (after its clean stop); SIGTERM,
    a supervisor's normal stop, is 0."""
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        s3_port, webhook_port = free_ports(2)
        ports = ["--port", str(s3_port), "--webhook-port", str(webhook_port)]
        with reaped(spawn("serve", "--in-memory", *ports, env=local_env(tmp_path))) as proc:
            announcement(proc)
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, (signum, err)
        assert "Traceback" not in err


def test_a_second_serve_names_both_taken_ports_and_the_first_serves_pid(tmp_path: Path) -> None:
    """Both ports are checked before failing: one line names S3's and the webhook's, says
    another reelpipe serve holds them and gives its pid; nothing is announced."""
    s3_port, webhook_port = free_ports(2)
    ports = ["--port", str(s3_port), "--webhook-port", str(webhook_port)]
    env = local_env(tmp_path)
    with reaped(spawn("serve", "--in-memory", *ports, env=env)) as first:
        announcement(first)
        second = spawn("serve", "--in-memory", *ports, env=env)
        out, err = second.communicate(timeout=60)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.returncode == 2, err
    line = one_line(err)
    assert f"S3 on 127.0.0.1:{s3_port}" in line, line
    assert f"the webhook on 127.0.0.1:{webhook_port}" in line, line
    assert f"another reelpipe serve is running (pid {first.pid})" in line, line
    assert "--port" in line and "--webhook-port" in line
    assert out == ""


def test_taken_ports_are_all_named_with_their_holder() -> None:
    """Two ports this process holds: one PortTaken naming both, asking whether another
    serve runs, with this process's pid; a free port given beside them is let go again."""
    held = [socket.socket(), socket.socket()]
    free, *ports = free_ports(3)
    try:
        for sock, port in zip(held, ports, strict=True):
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        wanted = [Wanted(free, "free", "--free")] + [
            Wanted(port, f"thing {i}", f"--opt-{i}") for i, port in enumerate(ports)
        ]
        with pytest.raises(PortTaken) as raised:
            listen_on_all("127.0.0.1", wanted)
        message = str(raised.value)
        assert f"thing 0 on 127.0.0.1:{ports[0]} and thing 1 on 127.0.0.1:{ports[1]}" in message
        assert f"is another reelpipe serve running? (pid {os.getpid()})" in message
        assert "--opt-0 and --opt-1" in message and "--free" not in message
        with socket.socket() as again:
            again.bind(("127.0.0.1", free))  # the one bound on the way was closed
    finally:
        for sock in held:
            sock.close()


def test_a_job_leaves_no_directory_under_the_scratch_root(tmp_path: Path) -> None:
    """After `process`, the scratch root holds nothing named for the job."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    env = local_env(tmp_path, REELPIPE_X264_PRESET="veryfast")
    proc = spawn("process", str(clip), "--out", str(tmp_path / "out"), env=env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    job_id = out.split()[1]
    scratch = tmp_path / "scratch"
    assert scratch.is_dir()
    assert not (scratch / job_id).exists(), sorted(p.name for p in scratch.iterdir())

"""ffmpeg and ffprobe under signals from outside, as real processes.

They run in a process group of their own, so a Ctrl-C at the terminal (SIGINT to the
foreground group) reaches reelpipe alone, which stops them itself at a frame boundary.
One killed by a signal all the same (a supervisor signalling every process, the OOM
killer) is a retryable ToolStopped: the clip is not at fault and must not be failed as
unreadable."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.errors import InvalidMedia, ReelpipeError, RetryableError, ToolStopped
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.probe import probe_url
from tests.faults import wait_until


def child_named(name: str) -> int | None:
    """The pid of this process's child called ``name``, if one runs."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and comm == name:
            return int(entry)
    return None


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP URL whose server accepts and never answers (ffprobe waits on it)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/clip.mp4"


def in_thread(call: object) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def body() -> None:
        try:
            call()  # type: ignore[operator]
        except ReelpipeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, raised


def test_an_ffprobe_killed_from_outside_is_retryable_not_an_unreadable_clip(
    silent_server: str,
) -> None:
    """SIGINT to ffprobe mid-read: ToolStopped naming the signal, never InvalidMedia."""
    thread, raised = in_thread(
        lambda: probe_url(silent_server, "clip.mp4", 1000, timeout_s=60, read_timeout_s=60)
    )
    pid = wait_until(lambda: child_named("ffprobe"), timeout_s=10, what="ffprobe to start")
    os.kill(pid, signal.SIGINT)
    thread.join(timeout=30)
    assert len(raised) == 1
    assert isinstance(raised[0], ToolStopped) and not isinstance(raised[0], InvalidMedia)
    assert "SIGINT" in str(raised[0])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_ffmpeg_runs_in_its_own_process_group_and_a_kill_is_retryable(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """ffmpeg leads a process group of its own (the terminal's Ctrl-C misses it). Killed
    from outside, it is retried, not failed: SIGKILL is ToolStopped; SIGTERM, which ffmpeg
    catches and exits 255, is an EncoderCrashed."""
    args = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=600"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", str(tmp_path / "out.mp4")]
    thread, raised = in_thread(lambda: run_ffmpeg(args))
    pid = wait_until(lambda: child_named("ffmpeg"), timeout_s=10, what="ffmpeg to start")
    assert os.getpgid(pid) == pid != os.getpgid(0)
    os.kill(pid, signum)
    thread.join(timeout=30)
    assert len(raised) == 1 and isinstance(raised[0], RetryableError), raised
    if signum == signal.SIGKILL:
        assert isinstance(raised[0], ToolStopped) and "SIGKILL" in str(raised[0])

"""Fault injection for the suite: a TCP proxy that delays or stalls requests, and the
process helpers the fault tests share (real processes, real sockets, no mocks)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from pipeline.core.settings import Settings

PYTHON_CLI = [sys.executable, "-m", "pipeline.cli.main"]
_METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ")


@dataclass(frozen=True)
class Delay:
    """Hold the request this long, then forward it."""

    seconds: float


class Stall:
    """Never forward the request (the connection stays open until the client gives up)."""


@dataclass(frozen=True)
class Cut:
    """Forward the request, then only the first ``after_bytes`` of its response (headers
    included), and hang up: a stream cut mid-body."""

    after_bytes: int


Action = Delay | Stall | Cut | None
Rule = Callable[[str], Action]


class FaultyProxy:
    """A loopback TCP proxy in front of an S3 endpoint.

    ``rule`` sees each request line (``"DELETE /bucket/inbox/u/r.json HTTP/1.1"``)
    and returns None (forward), :class:`Delay`, :class:`Stall` or :class:`Cut`. Other
    responses are forwarded untouched.
    """

    def __init__(self, upstream_port: int, rule: Rule) -> None:
        self.upstream_port = upstream_port
        self.rule = rule
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._cut_after: dict[socket.socket, int] = {}  # a client's response to cut short
        threading.Thread(target=self._accept, daemon=True, name="proxy").start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(
                target=self._pump_requests, args=(client, upstream), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                if data.startswith(_METHODS):
                    action = self.rule(data.split(b"\r\n", 1)[0].decode(errors="replace"))
                    if isinstance(action, Stall):
                        while client.recv(65536):  # swallow whatever follows until it hangs up
                            pass
                        return
                    if isinstance(action, Delay):
                        time.sleep(action.seconds)
                    if isinstance(action, Cut):
                        self._cut_after[client] = action.after_bytes
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    def _pump(self, source: socket.socket, dest: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                left = self._cut_after.get(dest)
                if left is not None and len(data) >= left:
                    dest.sendall(data[:left])
                    return  # the finally hangs up on both
                if left is not None:
                    self._cut_after[dest] = left - len(data)
                dest.sendall(data)
        except OSError:
            pass
        finally:
            _close(source, dest)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        _close(*self._sockets)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def worker_env(settings: Settings, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a reelpipe process against the test bucket (or a proxy of it)."""
    env = {
        **os.environ,
        "REELPIPE_ENDPOINT_URL": endpoint or str(settings.storage.endpoint_url),
        "REELPIPE_BUCKET": settings.storage.bucket,
        "AWS_ACCESS_KEY_ID": "test-access-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key-do-not-log",
        "REELPIPE_SCRATCH_DIR": str(settings.scratch_dir),
        "REELPIPE_X264_PRESET": "veryfast",
        **extra,
    }
    env.pop("REELPIPE_DATA_DIR", None)
    return env


def spawn(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    """``reelpipe ARGS`` as a child process (its own process group), stderr captured."""
    return subprocess.Popen(
        [*PYTHON_CLI, *args],
        env=env,
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        text=True,
        start_new_session=True,
        **kwargs,
    )


def announcement(proc: subprocess.Popen[str], until: str = "workers") -> dict[str, str]:
    """What ``reelpipe serve`` prints at start (``key: value`` lines), read from its stdout
    up to the line ``until`` (``workers`` is its last)."""
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    while until not in lines:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr is not None else ""
            raise AssertionError(f"serve exited before announcing {until!r}: {err[-2000:]}")
        key, _, value = line.partition(":")
        lines[key.strip()] = value.strip()
    return lines


def free_ports(count: int = 1) -> list[int]:
    """``count`` loopback ports nobody holds, below the kernel's ephemeral range
    (32768 and up), so no outgoing connection of this or another test can take one
    between now and the child binding it. All are held while the next is tried."""
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", random.randrange(20_000, 32_000)))
            except OSError:
                sock.close()
                continue
            held.append(sock)
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def assert_running(proc: subprocess.Popen[str]) -> None:
    """Fail with the child's exit status and the end of its stderr if it has exited."""
    if proc.poll() is None:
        return
    err = proc.stderr.read() if proc.stderr is not None else ""
    raise AssertionError(f"the child exited with {proc.returncode}: {err[-4000:]}")


def wait_until(
    condition: Callable[[], object], *, timeout_s: float, what: str, poll_s: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy; AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(poll_s)


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid``."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Kill the process (and its group) if the test leaves it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

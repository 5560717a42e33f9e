"""A warm worker: the pipeline imported once, a store started ahead, one fork per command.

``python -m pipeline.cli.warm_worker`` (started in the background by a cold
``reelpipe process``: :func:`pipeline.cli.warm_client.start_warm_worker`) imports what
``process`` imports, starts an embedded store's child ahead of time, and listens on its
socket (:mod:`pipeline.cli.warm_place`). For each command it forks: the fork takes the
client's standard streams, working folder, environment and umask, and the store started
ahead (a fresh, private one, exactly as a cold command starts its own), and runs
:func:`pipeline.cli.main.main` as the command's own process would, so its settings, its
output and its exit code are the cold command's. Once no fork runs, the next store is
started ahead.

One thread, one selector: the listening socket, each client's socket (closed by the
client: the job is stopped with SIGTERM, as the command's own death would stop it) and
each fork's pidfd (its end: its exit code goes back to the client). Nothing runs on a
second thread, so a fork inherits no lock another thread held.

It ends after ``REELPIPE_WARM_IDLE_S`` (600) seconds without a command, when asked
(``{"kind": "stop"}``), or when the package it loaded is no longer on disk. A second
worker for the same code finds the start lock taken and leaves at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from pipeline.cli.warm_place import (
    PACKAGE_DIR,
    WarmPlace,
    idle_seconds,
    socket_address,
    warm_place,
)
from pipeline.core.errors import ConfigError
from pipeline.storage.embedded_process import EmbeddedS3Process

TICK_S = 1.0
REQUEST_TIMEOUT_S = 5.0
MAX_MESSAGE = 1 << 20
# What `reelpipe process` imports on its way to a job's first frame (the rest is
# imported by the fork, as a cold command would).
PRELOADED = (
    "pipeline.cli.main",
    "pipeline.cli.progress_bar",
    "pipeline.cli.stage_timing",
    "pipeline.jobs.compose",
    "pipeline.jobs.process",
    "pipeline.jobs.orchestrator",
    "pipeline.stages.registry",
    "pipeline.stages.execute",
    "pipeline.runners.local",
    "pipeline.storage.bucket",
    "pipeline.media.previews",
)


@dataclass
class _Job:
    """A forked command: its client's socket and the pidfd that says when it ends."""

    pid: int
    conn: socket.socket
    pidfd: int


@dataclass
class WarmWorker:
    """The serving loop (see the module's docstring)."""

    place: WarmPlace
    idle_s: float
    _listener: socket.socket = field(init=False)
    _selector: selectors.BaseSelector = field(init=False)
    _spare: EmbeddedS3Process | None = None
    _spare_ready: bool = False
    _handed: list[Any] = field(default_factory=list)  # stores given to forks, reaped here
    _jobs: dict[int, _Job] = field(default_factory=dict)
    _last_used: float = field(default_factory=time.monotonic)
    _stopping: bool = False
    _served: int = 0

    def __post_init__(self) -> None:
        self.place.socket.unlink(missing_ok=True)  # the start lock is ours: it is stale
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with socket_address(self.place.socket) as address:
            self._listener.bind(address)
        os.chmod(self.place.socket, 0o600)
        self._listener.listen(16)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")

    def serve(self) -> None:
        """Serve until idle, asked to stop, or the package is gone."""
        try:
            while not self._done():
                self._start_spare()
                for key, _ in self._selector.select(TICK_S):
                    self._dispatch(key.data)
                self._reap_handed()
        finally:
            self._close()

    def _done(self) -> bool:
        if not (PACKAGE_DIR / "__init__.py").exists():
            return True
        idle = not self._jobs and time.monotonic() - self._last_used > self.idle_s
        return (self._stopping or idle) and not self._jobs

    def _dispatch(self, what: Any) -> None:
        if what == "accept":
            self._accept()
        elif what == "spare":
            self._spare_said_ready()
        elif what[0] == "ended":
            self._ended(what[1])
        elif what[0] == "client":
            self._client_spoke(what[1])

    # -- the store started ahead ----------------------------------------------------

    def _start_spare(self) -> None:
        """A store for the next command, started while nothing runs (its start would
        take the second core from a running job)."""
        if self._spare is not None or self._jobs or self._stopping:
            return
        self._spare = EmbeddedS3Process().start()
        self._spare_ready = False
        self._selector.register(self._spare.output(), selectors.EVENT_READ, "spare")

    def _spare_said_ready(self) -> None:
        assert self._spare is not None
        self._selector.unregister(self._spare.output())
        try:
            self._spare_ready = bool(self._spare.endpoint_url)  # its line is there: read now
        except ConfigError:  # it could not start: the next command starts its own
            self._spare.stop()
            self._spare = None

    def _take_spare(self) -> EmbeddedS3Process | None:
        spare, ready = self._spare, self._spare_ready
        if spare is None:
            return None
        if not ready:  # still starting: a fork would wait for it no less than for its own
            return None
        self._spare, self._spare_ready = None, False
        return spare

    def _reap_handed(self) -> None:
        self._handed = [proc for proc in self._handed if proc.poll() is None]

    # -- commands ----------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.settimeout(REQUEST_TIMEOUT_S)
        fds: list[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                conn.close()
                return
            data, fds, _flags, _addr = socket.recv_fds(conn, MAX_MESSAGE, 3)
            request = json.loads(data)
        except (OSError, ValueError):
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        if request.get("kind") in ("stop", "status"):
            self._stopping = self._stopping or request["kind"] == "stop"
            with contextlib.suppress(OSError):
                conn.send(json.dumps(self._status()).encode())
            conn.close()
            return
        if request.get("kind") != "run" or len(fds) != 3 or self._stopping:
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        self._fork(request, fds, conn)

    def _fork(self, request: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
        self._last_used = time.monotonic()
        self._served += 1
        spare = self._take_spare()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the command's process
            self._let_go_in_fork(conn)
            _run_command(request, fds, spare)  # never returns
        for fd in fds:
            os.close(fd)
        if spare is not None:
            self._handed.append(spare.hand_over())
        pidfd = os.pidfd_open(pid)
        self._jobs[pid] = _Job(pid, conn, pidfd)
        conn.setblocking(False)
        self._selector.register(pidfd, selectors.EVENT_READ, ("ended", pid))
        self._selector.register(conn, selectors.EVENT_READ, ("client", pid))
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"pid": pid}).encode())

    def _let_go_in_fork(self, conn: socket.socket) -> None:
        """In a fork: close what belongs to the worker (its sockets, the other commands'
        sockets and pidfds, the pipes of a store it did not take, which would otherwise
        keep that store alive as long as this fork)."""
        self._selector.close()
        self._listener.close()
        conn.close()
        for job in self._jobs.values():
            job.conn.close()
            os.close(job.pidfd)
        if self._spare is not None:
            self._spare.hand_over()

    def stop_jobs(self, signum: int, _frame: object) -> None:
        """SIGTERM to the worker: no new command, and each running one is stopped as its
        own SIGTERM would stop it; their codes still go back, then the worker ends."""
        self._stopping = True
        for pid in self._jobs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _status(self) -> dict[str, Any]:
        """What ``reelpipe warm`` prints (and a bench waits for: no job, the store ready)."""
        return {
            "pid": os.getpid(),
            "jobs": len(self._jobs),
            "served": self._served,
            "store_ready": self._spare_ready,
            "stores_to_reap": len(self._handed),
            "stopping": self._stopping,
            "idle_s": self.idle_s,
        }

    def _client_spoke(self, pid: int) -> None:
        """The client's socket is readable: it closed (it was killed), so the job stops
        as the command's own process would on SIGTERM."""
        job = self._jobs[pid]
        try:
            data = job.conn.recv(MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(job.conn)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _ended(self, pid: int) -> None:
        job = self._jobs.pop(pid)
        self._selector.unregister(job.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(job.conn)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            job.conn.setblocking(True)
            job.conn.settimeout(REQUEST_TIMEOUT_S)
            job.conn.send(json.dumps({"exit": code if code >= 0 else 128 - code}).encode())
        job.conn.close()
        os.close(job.pidfd)
        self._last_used = time.monotonic()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.place.socket.unlink()
        self._listener.close()
        self._selector.close()
        if self._spare is not None:
            self._spare.stop()
        for proc in self._handed:
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)


def _peer_uid(conn: socket.socket) -> int:
    """The user id of the process at the other end (SO_PEERCRED: pid, uid, gid)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _run_command(request: dict[str, Any], fds: list[int], store: EmbeddedS3Process | None) -> None:
    """In the fork: become the client's command, run it, and leave with its code."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the command's own, from here on
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(int(request["umask"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        _reopen_standard_streams()
        argv = [str(word) for word in request["argv"]]
        sys.argv = ["reelpipe", *argv]
        from pipeline.cli.main import run_command

        code = run_command(argv, store)
    except BaseException as exc:  # noqa: BLE001 - the fork must never return into the loop
        with contextlib.suppress(Exception):
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reopen_standard_streams() -> None:
    """sys.stdin, stdout and stderr over the client's descriptors, buffered as the
    interpreter buffers them at start: stdout by line on a terminal, stderr by line."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, line: bool) -> IO[str]:
        raw = os.fdopen(fd, mode + "b", closefd=False)
        errors = "backslashreplace" if fd == 2 else "strict"
        return io.TextIOWrapper(
            raw, encoding="utf-8", errors=errors, line_buffering=line, write_through=unbuffered
        )

    sys.stdin = stream(0, "r", False)
    sys.stdout = stream(1, "w", os.isatty(1))
    sys.stderr = stream(2, "w", True)


def main() -> int:
    """The worker's process: one per code (the start lock), until idle or stopped."""
    environ = os.environ
    place = warm_place(environ)
    lock = open(place.lock, "a")  # noqa: SIM115 - held for the worker's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker for this code is starting or serving
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _preload()
    worker = WarmWorker(place, idle_seconds(environ))
    signal.signal(signal.SIGTERM, worker.stop_jobs)
    worker.serve()
    return 0


def _preload() -> None:
    """Import what ``process`` imports, build its parser (the manifests' models), and
    make one S3 client: the library's default session then holds the S3 model and the
    endpoint rules it read (0.09 s a command otherwise)."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    from pipeline.cli.main import build_parser
    from pipeline.core.settings import Settings
    from pipeline.storage.bucket import make_s3_client

    build_parser()
    make_s3_client(Settings.from_env({}, endpoint_url="http://127.0.0.1:9"))


if __name__ == "__main__":
    sys.exit(main())

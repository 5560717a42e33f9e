"""A warm worker: the pipeline imported once, a store started ahead, one fork per command.

``python -m pipeline.cli.warm_worker`` (started in the background by a cold
``reelpipe process``: :func:`pipeline.cli.warm_client.start_warm_worker`) imports what
``process`` imports, starts an embedded store's child ahead of time, and listens on its
socket (:mod:`pipeline.cli.warm_place`). For each command of its own user whose process
attributes are its own (:mod:`pipeline.cli.warm_peer`; else it refuses and the command
runs itself) it forks: the fork (:mod:`pipeline.cli.warm_fork`) takes the client's
standard streams, working folder, environment and umask, and the store started ahead (a
fresh, private one, exactly as a cold command starts its own), and runs the command as
its own process would, so its settings, its output and its exit code are the cold
command's. Once no fork runs, the next store is started ahead.

One thread, one selector: the listening socket, each client's socket (closed by the
client: the job is stopped with SIGTERM, as the command's own death would stop it) and
each fork's pidfd (its end: its exit code goes back to the client). Nothing runs on a
second thread, so a fork inherits no lock another thread held. A request whose handling
fails is dropped with a line on the worker's stderr (its log file); the loop goes on.

It ends after ``REELPIPE_WARM_IDLE_S`` (600) seconds without a command, an hour after it
started once idle, when asked (``{"kind": "stop"}``), on SIGTERM (its running jobs are
stopped as their own SIGTERM would stop them, and their codes still go back), or when
the package it loaded is no longer on disk. A second worker for the same code finds the
start lock taken and leaves at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import json
import os
import select
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from pipeline.cli.warm_client import peer_credentials
from pipeline.cli.warm_fork import FORK_SIGNALS, run_forked
from pipeline.cli.warm_peer import differs
from pipeline.cli.warm_place import PACKAGE_DIR, WarmPlace, idle_seconds, socket_address, warm_place
from pipeline.core.errors import ConfigError
from pipeline.storage.embedded_process import EmbeddedS3Process

TICK_S = 1.0
REQUEST_TIMEOUT_S = 2.0
MAX_LIFETIME_S = 3600.0  # then it ends once idle: a long-lived one would miss upgrades
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
    lock: IO[str]  # the start lock, held for the worker's life (closed in each fork)
    _listener: socket.socket = field(init=False)
    _selector: selectors.BaseSelector = field(init=False)
    _spare: EmbeddedS3Process | None = None
    _spare_ready: bool = False
    _handed: list[Any] = field(default_factory=list)  # stores given to forks, reaped here
    _jobs: dict[int, _Job] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)
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
        self._selector.register(self._listener, selectors.EVENT_READ, self._accept)

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
        if self._jobs:
            return False
        now = time.monotonic()
        idle = now - self._last_used > self.idle_s or now - self._started > MAX_LIFETIME_S
        return self._stopping or idle or not (PACKAGE_DIR / "__init__.py").exists()

    def _dispatch(self, handler: Callable[[], None]) -> None:
        try:
            handler()
        except Exception:  # noqa: BLE001 - one request's failure must not end the worker
            traceback.print_exc(file=sys.stderr)

    # -- the store started ahead ----------------------------------------------------

    def _start_spare(self) -> None:
        """A store for the next command, started while nothing runs (its start would
        take the second core from a running job)."""
        if self._spare is not None or self._jobs or self._stopping:
            return
        self._spare = EmbeddedS3Process().start()
        self._spare_ready = False
        self._selector.register(self._spare.output(), selectors.EVENT_READ, self._spare_said)

    def _spare_said(self) -> None:
        assert self._spare is not None
        self._selector.unregister(self._spare.output())
        try:
            self._spare_ready = bool(self._spare.endpoint_url)  # its line is there: read now
        except ConfigError:  # it could not start: the next command starts its own
            self._spare.stop()
            self._spare = None

    def _take_spare(self) -> EmbeddedS3Process | None:
        """The store started ahead, once it serves (one still starting is left: a fork
        would wait for it no less than for its own)."""
        if self._spare is None or not self._spare_ready:
            return None
        spare, self._spare, self._spare_ready = self._spare, None, False
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
        forked = False
        try:
            if peer_credentials(conn)[1] != os.getuid():
                return
            data, fds, _flags, _addr = socket.recv_fds(conn, MAX_MESSAGE, 3)
            request = json.loads(data)
            if not isinstance(request, dict):
                return
            if request.get("kind") in ("stop", "status"):
                self._stopping = self._stopping or request["kind"] == "stop"
                conn.send(json.dumps(self._status()).encode())
            elif request.get("kind") == "run" and len(fds) == 3:
                refused = self._refusal(conn)
                if refused is None:
                    self._fork(request, fds, conn)
                    forked = True  # its socket is the job's now
                else:
                    conn.send(json.dumps({"refused": refused}).encode())
        except (OSError, ValueError):
            return
        finally:
            for fd in fds:
                os.close(fd)
            if not forked:
                conn.close()

    def _refusal(self, conn: socket.socket) -> str | None:
        """Why this command is not run here (it then runs itself), or None."""
        if self._stopping:
            return "the worker is stopping"
        if _hung_up(conn):
            return "the command is gone"
        return differs(peer_credentials(conn)[0])

    def _fork(self, request: dict[str, Any], fds: list[int], conn: socket.socket) -> None:
        self._last_used = time.monotonic()
        self._served += 1
        spare = self._take_spare()
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, FORK_SIGNALS)  # none before its handlers
        # The fork's collector leaves what it inherits alone: a full collection would walk
        # (and copy, page by page) the whole imported heap, 70 to 100 ms of its first second.
        gc.freeze()
        try:
            pid = os.fork()
            if pid == 0:  # the command's process: it never comes back from here
                try:
                    self._let_go_in_fork(conn)
                finally:
                    run_forked(request, fds, spare)
        finally:
            gc.unfreeze()  # the worker's own garbage stays collectable
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_SIGNALS)
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"pid": pid}).encode())
        if spare is not None:
            self._handed.append(spare.hand_over())
        pidfd = os.pidfd_open(pid)  # checked to work when the worker started
        self._jobs[pid] = _Job(pid, conn, pidfd)
        conn.setblocking(False)
        self._selector.register(pidfd, selectors.EVENT_READ, functools.partial(self._ended, pid))
        self._selector.register(
            conn, selectors.EVENT_READ, functools.partial(self._client_spoke, pid)
        )

    def _let_go_in_fork(self, conn: socket.socket) -> None:
        """In a fork: close what belongs to the worker (its sockets and start lock, the
        other commands' sockets and pidfds, the pipes of a store it did not take, which
        would otherwise keep that store alive as long as this fork)."""
        self._selector.close()
        self._listener.close()
        self.lock.close()
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
        for job in self._jobs.values():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(job.pidfd, signum)

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
                signal.pidfd_send_signal(job.pidfd, signal.SIGTERM)

    def _ended(self, pid: int) -> None:
        job = self._jobs.pop(pid)
        self._selector.unregister(job.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(job.conn)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        killed = -code if code < 0 else None
        with contextlib.suppress(OSError):
            job.conn.setblocking(True)
            job.conn.settimeout(REQUEST_TIMEOUT_S)
            ended = {"exit": 128 + killed if killed else code, "signal": killed}
            job.conn.send(json.dumps(ended).encode())
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


def _hung_up(conn: socket.socket) -> bool:
    """Whether the client closed its end before its request was served."""
    poller = select.poll()
    poller.register(conn, select.POLLHUP)
    return any(event & select.POLLHUP for _, event in poller.poll(0))


def main() -> int:
    """The worker's process: one per code (the start lock), until idle or stopped."""
    environ = os.environ
    place = warm_place(environ)
    lock = open(place.lock, "a")  # noqa: SIM115 - held for the worker's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker for this code is starting or serving
    os.close(os.pidfd_open(os.getpid()))  # the loop needs pidfds (Linux 5.3): fail now
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _preload()
    worker = WarmWorker(place, idle_seconds(environ), lock)
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

"""``reelpipe process`` handed to a warm worker, when one runs for this code.

The command's own process sends its arguments, working folder, environment and umask
to the worker (:mod:`pipeline.cli.warm_worker`), with its standard input, output and
error themselves (passed over the Unix socket, so the job writes to this terminal or
pipe directly), then waits for the job's exit code. The worker answers only a process of
its own user whose process attributes (namespaces, control group, niceness, limits, CPU
affinity, groups) are its own; else it refuses and the command runs here.

Once the request is sent, the command never runs here as well: the worker either
refuses, or forks the job and names its pid, and the job's end is its exit code (a job
killed by a signal ends this process by the same signal). Ctrl-C, SIGTERM and SIGHUP are
sent on to the job's process, through a pidfd, and stop it as they stop a cold command
(a repeated SIGTERM or SIGHUP is ignored, a second Ctrl-C leaves at once); Ctrl-Z stops
the job with this process and ``fg`` resumes both. If this
process is killed, the worker sees its socket close and stops the job; if the worker
dies, this process stops the job and says so.

When no worker runs, the command runs here as always and then starts one in the
background (:func:`start_warm_worker`), unless ``REELPIPE_WARM=off``. Only the standard
library is imported here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import Any

from pipeline.cli.warm_place import (
    PACKAGE_DIR,
    UnsafePlace,
    WarmPlace,
    idle_seconds,
    socket_address,
    warm_enabled,
    warm_place,
    worker_environment,
)

CONNECT_TIMEOUT_S = 2.0
START_TIMEOUT_S = 30.0  # from the request to the worker's answer (a fork, or a refusal)
ORPHAN_STOP_S = 60.0  # how long a job whose worker died is given to stop
MAX_MESSAGE = 1 << 20
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WARM_COMMANDS = frozenset({"process"})
EXIT_INTERRUPTED = 130  # pipeline.cli.common's, not imported here: it loads the settings
EXIT_FAILED = 1


def run_warm(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """The exit code of ``reelpipe argv`` run by the warm worker; None when it is not a
    command a worker runs, no worker answers, or the worker refused it (the caller then
    runs it itself)."""
    place = _usable_place(argv, environ)
    try:
        cwd = os.getcwd()
    except OSError:  # a working folder that was removed: a cold run says what it says
        return None
    conn = _connected(place) if place is not None else None
    if conn is None:
        return None
    try:
        return _handed_over(conn, _request(argv, environ, cwd))
    except KeyboardInterrupt:  # a second Ctrl-C while the job stops: leave now
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        conn.close()


def _request(argv: Sequence[str], environ: Mapping[str, str], cwd: str) -> bytes:
    mask = os.umask(0o022)
    os.umask(mask)
    request = {"kind": "run", "argv": list(argv), "cwd": cwd, "env": dict(environ)}
    return json.dumps({**request, "umask": mask}).encode()


def _handed_over(conn: socket.socket, request: bytes) -> int | None:
    """:func:`run_warm` once connected: the request, then the job's end."""
    with _ForwardedSignals() as signals:
        with _standard_streams() as streams:
            try:
                socket.send_fds(conn, [request], streams)
            except OSError:
                return None  # not sent: nothing can run there
        conn.settimeout(START_TIMEOUT_S)
        started = _receive(conn)
        if started is not None and "refused" in started:
            return signals.interrupted()  # run here, unless a signal asked to stop
        if started is None or "pid" not in started:
            print("error: the warm worker did not start the job", file=sys.stderr)
            return signals.interrupted() or EXIT_FAILED
        job = _Job(int(started["pid"]))
        signals.send_to(job)
        conn.settimeout(None)  # the job takes as long as it takes; its end closes the socket
        done = _receive(conn)
        if done is None or "exit" not in done:
            job.stop()
            print("error: the warm worker ended during the job", file=sys.stderr)
            return EXIT_FAILED
    if done.get("signal"):  # killed by a signal: this process ends by the same one
        signal.signal(int(done["signal"]), signal.SIG_DFL)
        os.kill(os.getpid(), int(done["signal"]))
    return int(done["exit"])


def start_warm_worker(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """After a command ran here: start a worker in the background for the next ones
    (one line on stderr says so), when the command is one it runs and none runs yet.
    The worker ends itself after ``REELPIPE_WARM_IDLE_S`` (600) idle seconds."""
    place = _usable_place(argv, environ)
    if place is None or _answers(place):
        return False
    with open(place.log, "ab") as log:  # why a worker could not start, if it could not
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli.warm_worker"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # out of this terminal's reach: its signals are not for it
            close_fds=True,
            cwd=PACKAGE_DIR.parent,  # not the command's folder (a mount kept busy)
            env=worker_environment(environ),  # no secret: a command's goes to its fork
        )
    idle = idle_seconds(environ)
    stays = f"{idle / 60:.3g} minutes" if idle >= 60 else f"{idle:g} s"
    print(
        f"reelpipe starts a warm worker (it ends after {stays} idle) so that the next"
        " `reelpipe process` starts at once (REELPIPE_WARM=off: never)",
        file=sys.stderr,
    )
    return True


def ask_warm_worker(environ: Mapping[str, str], *, stop: bool = False) -> dict[str, Any] | None:
    """The state of this code's warm worker (its pid, running jobs, whether its next
    store is ready), asking it to stop first when ``stop`` (its running jobs finish);
    None when none runs."""
    try:
        conn = _connected(warm_place(environ))
    except UnsafePlace:
        return None
    if conn is None:
        return None
    with conn:
        try:
            conn.send(json.dumps({"kind": "stop" if stop else "status"}).encode())
        except OSError:
            return None
        return _receive(conn)


def _usable_place(argv: Sequence[str], environ: Mapping[str, str]) -> WarmPlace | None:
    """The socket for ``argv``, or None when it is not for a worker (another command, a
    help request, warm workers turned off, or a folder that is not this user's own)."""
    if not argv or argv[0] not in WARM_COMMANDS or not warm_enabled(environ):
        return None
    if any(word in ("-h", "--help") for word in argv):
        return None
    try:
        return warm_place(environ)
    except UnsafePlace:
        return None


def _connected(place: WarmPlace) -> socket.socket | None:
    """A connection to the worker on ``place`` (its descriptor above 2, so that it never
    stands in for a closed standard stream), or None when none of this user listens."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn = socket.socket(fileno=fcntl.fcntl(raw.fileno(), fcntl.F_DUPFD_CLOEXEC, 3))
    raw.close()
    conn.settimeout(CONNECT_TIMEOUT_S)
    try:
        with socket_address(place.socket) as address:
            conn.connect(address)
        if peer_credentials(conn)[1] == os.getuid():
            return conn
    except OSError:  # none listens (or a stale socket)
        pass
    conn.close()
    return None


def _answers(place: WarmPlace) -> bool:
    """Whether a worker listens on ``place`` now."""
    conn = _connected(place)
    if conn is None:
        return False
    conn.close()
    return True


def peer_credentials(conn: socket.socket) -> tuple[int, int]:
    """The process id and user id at the other end of ``conn`` (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
    pid, uid, _gid = struct.unpack("iII", creds)
    return int(pid), int(uid)


def _receive(conn: socket.socket) -> dict[str, Any] | None:
    """One message from the worker, or None once its end is closed."""
    try:
        data = conn.recv(MAX_MESSAGE)
        message = json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    return message if isinstance(message, dict) else None


@contextlib.contextmanager
def _standard_streams() -> Iterator[list[int]]:
    """File descriptors 0, 1 and 2 to pass on, /dev/null in place of any that is closed."""
    streams, opened = [], []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            streams.append(fd)
        except OSError:
            opened.append(os.open(os.devnull, os.O_RDWR))
            streams.append(opened[-1])
    try:
        yield streams
    finally:
        for fd in opened:
            os.close(fd)


class _Job:
    """The job's process in the worker, reached through a pidfd (a pid the worker has
    reaped could name another process by the time a signal is sent)."""

    def __init__(self, pid: int) -> None:
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # it has already ended: its exit code is on its way
            self._pidfd = None

    def signal(self, signum: int) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def stop(self) -> None:
        """The worker died: stop the job as a SIGTERM stops a cold command, and wait."""
        if self._pidfd is None:
            return
        self.signal(signal.SIGTERM)
        select.select([self._pidfd], [], [], ORPHAN_STOP_S)
        os.close(self._pidfd)
        self._pidfd = None


class _ForwardedSignals:
    """Ctrl-C, SIGTERM and SIGHUP sent on to the job (kept until it is known). As a cold
    command does, a repeated SIGTERM or SIGHUP is ignored; a second Ctrl-C leaves."""

    def __init__(self) -> None:
        self._job: _Job | None = None
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _ForwardedSignals:
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._forward)
        self._previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self._suspend)
        self._previous[signal.SIGCONT] = signal.signal(signal.SIGCONT, self._resume)
        return self

    def _suspend(self, signum: int, _frame: FrameType | None) -> None:
        """Ctrl-Z: the job stops too, then this process stops as the shell expects."""
        if self._job is not None:
            self._job.signal(signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)

    def _resume(self, signum: int, _frame: FrameType | None) -> None:
        """``fg`` or ``bg``: the job goes on with this process."""
        signal.signal(signal.SIGTSTP, self._suspend)
        if self._job is not None:
            self._job.signal(signal.SIGCONT)

    def send_to(self, job: _Job) -> None:
        self._job = job
        for signum in self._pending:
            job.signal(signum)
        self._pending.clear()

    def interrupted(self) -> int | None:
        """128 + the first signal that came before the job was known, if any."""
        return 128 + self._pending[0] if self._pending else None

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            signal.signal(signum, signal.default_int_handler)
        else:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
        if self._job is None:
            self._pending.append(signum)
        else:
            self._job.signal(signum)

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

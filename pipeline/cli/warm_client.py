"""``reelpipe process`` handed to a warm worker, when one runs for this code.

The command's own process sends its arguments, working folder, environment and umask
to the worker (:mod:`pipeline.cli.warm_worker`), with its standard input, output and
error themselves (passed over the Unix socket, so the job writes to this terminal or
pipe directly), then waits for the job's exit code. Ctrl-C, SIGTERM and SIGHUP are sent
on to the job's process, which stops as a cold command does; if this process is killed,
the worker sees its socket close and stops the job.

When no worker runs, the command runs here as always and then starts one in the
background (:func:`start_warm_worker`), unless ``REELPIPE_WARM=off``. Only the standard
library is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import FrameType
from typing import Any

from pipeline.cli.warm_place import (
    UnsafePlace,
    WarmPlace,
    idle_seconds,
    socket_address,
    warm_enabled,
    warm_place,
)

CONNECT_TIMEOUT_S = 2.0
START_TIMEOUT_S = 10.0  # from the request to the job's process id (a fork)
MAX_MESSAGE = 1 << 20
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_INTERRUPTED = 130  # pipeline.cli.common's, not imported here: it loads the settings
WARM_COMMANDS = frozenset({"process"})


def run_warm(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """The exit code of ``reelpipe argv`` run by the warm worker; None when it is not a
    command a worker runs or no worker answers (the caller then runs it itself)."""
    place = _usable_place(argv, environ)
    if place is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.settimeout(CONNECT_TIMEOUT_S)
    try:
        with socket_address(place.socket) as address:
            conn.connect(address)
    except OSError:  # none listens (or a stale socket): run it here
        conn.close()
        return None
    try:
        return _handed_over(conn, argv, environ)
    except KeyboardInterrupt:  # a second signal while the job stops: leave now
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _handed_over(
    conn: socket.socket, argv: Sequence[str], environ: Mapping[str, str]
) -> int | None:
    """:func:`run_warm` once connected: the request, then the job's code."""
    with conn, _ForwardedSignals() as signals:
        request = {
            "kind": "run",
            "argv": list(argv),
            "cwd": os.getcwd(),
            "env": dict(environ),
            "umask": _umask(),
        }
        with _standard_streams() as streams:
            try:
                socket.send_fds(conn, [json.dumps(request).encode()], streams)
            except OSError:
                return None
        conn.settimeout(START_TIMEOUT_S)
        started = _receive(conn)
        if started is None or "pid" not in started:  # the worker went: nothing ran yet
            return signals.interrupted()  # run here, unless a signal asked to stop
        signals.send_to(int(started["pid"]))
        conn.settimeout(None)  # the job takes as long as it takes; its end closes the socket
        done = _receive(conn)
    if done is None or "exit" not in done:
        print("error: the warm worker ended during the job", file=sys.stderr)
        return 1
    return int(done["exit"])


def start_warm_worker(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """After a command ran here: start a worker in the background for the next ones
    (one line on stderr says so), when the command is one it runs and none runs yet.
    The worker ends itself after ``REELPIPE_WARM_IDLE_S`` (600) idle seconds."""
    place = _usable_place(argv, environ)
    if place is None or _answers(place):
        return False
    with open(place.log, "wb") as log:  # why a worker could not start, if it could not
        _spawn_worker(environ, log.fileno())
    idle = idle_seconds(environ)
    stays = f"{idle / 60:.3g} minutes" if idle >= 60 else f"{idle:g} s"
    print(
        f"reelpipe stays loaded for {stays} so that the next `reelpipe process` starts"
        " at once (REELPIPE_WARM=off: never)",
        file=sys.stderr,
    )
    return True


def _spawn_worker(environ: Mapping[str, str], log: int) -> None:
    subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.warm_worker"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,  # out of this terminal's reach: its signals are not for it
        close_fds=True,
        env=dict(environ),  # the environment the command started with, not what imports added
    )


def ask_warm_worker(environ: Mapping[str, str], *, stop: bool = False) -> dict[str, Any] | None:
    """The state of this code's warm worker (its pid, running jobs, whether its next
    store is ready), asking it to stop first when ``stop`` (its running jobs finish);
    None when none runs."""
    try:
        place = warm_place(environ)
    except UnsafePlace:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.settimeout(CONNECT_TIMEOUT_S)
        try:
            with socket_address(place.socket) as address:
                conn.connect(address)
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


def _answers(place: WarmPlace) -> bool:
    """Whether a worker listens on ``place`` now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
        probe.settimeout(CONNECT_TIMEOUT_S)
        try:
            with socket_address(place.socket) as address:
                probe.connect(address)
        except OSError:
            return False
    return True


def _receive(conn: socket.socket) -> dict[str, Any] | None:
    """One message from the worker, or None once its end is closed."""
    try:
        data = conn.recv(MAX_MESSAGE)
    except OSError:
        return None
    if not data:
        return None
    message = json.loads(data)
    return message if isinstance(message, dict) else None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


class _ForwardedSignals:
    """Ctrl-C, SIGTERM and SIGHUP sent on to the job's process (kept until it is known)."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _ForwardedSignals:
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._forward)
        return self

    def send_to(self, pid: int) -> None:
        self._pid = pid
        for signum in self._pending:
            self._kill(signum)
        self._pending.clear()

    def interrupted(self) -> int | None:
        """128 + the first signal that came before the job's process was known, if any."""
        return 128 + self._pending[0] if self._pending else None

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        # A second one is for this process: it leaves at once (the job has the first).
        signal.signal(signum, signal.default_int_handler)
        if self._pid is None:
            self._pending.append(signum)
        else:
            self._kill(signum)

    def _kill(self, signum: int) -> None:
        assert self._pid is not None
        with contextlib.suppress(ProcessLookupError):  # it has just ended: its code comes
            os.kill(self._pid, signum)

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

"""In a warm worker's fork: become the client's command, run it, leave with its code.

The fork takes the client's standard streams, working folder, umask and environment,
rebuilds ``sys.stdin``/``stdout``/``stderr`` over them as the interpreter builds its own
at start (the encoding and error handler the worker was started with, which the socket's
digest ties to the same locale; stdout by line on a terminal, stderr by line; nothing
buffered under ``PYTHONUNBUFFERED``), and runs :func:`pipeline.cli.main.run_command`
with the store started ahead. Whatever happens, it leaves by ``os._exit``: it never
returns into the worker's loop.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from typing import IO, Any, NoReturn

from pipeline.storage.embedded_process import EmbeddedS3Process

FORK_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)


def run_forked(
    request: dict[str, Any], fds: list[int], store: EmbeddedS3Process | None
) -> NoReturn:
    """The fork's whole life (signals are blocked on entry: the worker blocked them
    around the fork, so none reaches this process before its own handlers are set)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)  # the command's own handlers come next
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_SIGNALS)
        code = _run(request, fds, store)
    except SystemExit as exc:  # argparse's usage error (2), --version (0)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            with contextlib.suppress(Exception):
                print(exc.code, file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - the fork must never return into the loop
        with contextlib.suppress(Exception):
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run(request: dict[str, Any], fds: list[int], store: EmbeddedS3Process | None) -> int:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _reopen_standard_streams()
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    argv = [str(word) for word in request["argv"]]
    sys.argv = ["reelpipe", *argv]
    from pipeline.cli.main import run_command

    return run_command(argv, store)


def _reopen_standard_streams() -> None:
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, like: IO[str] | Any, line: bool) -> IO[str]:
        bare = unbuffered and mode == "w"  # input stays buffered, as under `python -u`
        raw: Any = os.fdopen(fd, mode + "b", buffering=0 if bare else -1, closefd=False)
        return io.TextIOWrapper(
            raw,
            encoding=getattr(like, "encoding", None) or "utf-8",
            errors=getattr(like, "errors", None) or "strict",
            line_buffering=line,
            write_through=bare,
        )

    sys.stdin = stream(0, "r", sys.__stdin__, False)
    sys.stdout = stream(1, "w", sys.__stdout__, os.isatty(1))
    sys.stderr = stream(2, "w", sys.__stderr__, True)

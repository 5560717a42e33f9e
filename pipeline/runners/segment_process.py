"""The body of a local segment worker process, and how it hears a stop.

:class:`pipeline.runners.local.LocalRunner` runs the segments of a long clip in
spawned worker processes. Each runs the Modal functions' body
(:func:`pipeline.runners.stage_call.execute_call`) with its own bucket client,
and stops at its next frame boundary when either

- the parent sets the shared ``told`` event (its worker is stopping: SIGTERM
  to the parent alone, as a supervisor sends it), or
- the process itself gets SIGTERM or SIGINT (Ctrl-C in a terminal, or a
  supervisor that signals the whole process group): the segment stops at a
  frame like its parent does, instead of dying with a traceback.

The stop comes back as data (``{"interrupted": ...}``), so the parent hands the
job back rather than failing it.
"""

from __future__ import annotations

import signal
from typing import Any

from pipeline.core.settings import Settings
from pipeline.runners.stage_call import execute_call
from pipeline.storage.bucket import open_bucket

# Set once in each worker process by listen_for_stop (the pool's initializer).
_told: Any = None
_signalled = False


def listen_for_stop(told: Any) -> None:
    """A worker process's start: keep ``told`` (a multiprocessing Event) and turn
    SIGTERM and SIGINT into a stop at the next frame."""
    global _told
    _told = told
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _heard_signal)


def _heard_signal(signum: int, frame: object) -> None:
    global _signalled
    _signalled = True


def stop_heard() -> bool:
    """True once this process was signalled or its parent told it to stop."""
    return _signalled or (_told is not None and _told.is_set())


def run_in_worker_process(wire: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A worker process's body: the Modal functions' body, with its own bucket client."""
    return execute_call(wire, open_bucket(settings), settings, interrupted=stop_heard)

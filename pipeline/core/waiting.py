"""Waits of the main thread that keep hearing signals.

CPython runs signal handlers only in the main thread, between bytecodes. When
the kernel hands SIGTERM to another thread (any thread may take a signal sent
to the process, and after SIGCONT any usually does), the main thread runs the
handler only once its own wait returns: blocked in ``future.result()`` or
``event.wait()`` without a timeout, it would hear a rolling deploy's SIGTERM
only when the job it waits for is over. These waits return to the interpreter
every :data:`SIGNAL_CHECK_S`, so a handler runs within that long.

Example::

    for job_id in results_of(pending):
        ...
    if wait_for_event(stop, settings.leases.scan_period_s):
        return
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from typing import TypeVar

SIGNAL_CHECK_S = 0.2

T = TypeVar("T")


def wait_all(futures: Iterable[Future[T]], between: Callable[[], None] = lambda: None) -> None:
    """Return once every future is done, waiting in short slices (``between()`` is called
    after each slice that left some undone)."""
    remaining = set(futures)
    while remaining:
        _, remaining = wait(remaining, timeout=SIGNAL_CHECK_S)
        if remaining:
            between()


def results_of(futures: Iterable[Future[T]]) -> list[T]:
    """Each future's result, in order (the first error in order raised), once all are done."""
    ordered = list(futures)
    wait_all(ordered)
    return [f.result() for f in ordered]


def wait_for_event(event: threading.Event, timeout_s: float) -> bool:
    """``event.wait(timeout_s)`` in short slices: True when the event is set."""
    deadline = time.monotonic() + timeout_s
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        event.wait(min(left, SIGNAL_CHECK_S))
    return True

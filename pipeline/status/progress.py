"""Where a running stage's progress goes: one throttle, one best-effort write, for every
runner (the orchestrator here, a worker process, a Modal container).

A stage calls its progress function at every frame; the sink writes at most one
status update per ``interval_s``. A write that fails is logged and tried again
at the next frame (progress never fails a stage); a lost lease is raised, so a
stale worker stops at once.

Example::

    sink = ProgressSink(store.update, call, interval_s=1.0)
    sink(0.42)        # the call (a stage, a fused group, a segment) is 42% done
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from pipeline.core.errors import LeaseLost, ReelpipeError, bounded_message
from pipeline.manifests.status import StatusManifest
from pipeline.stages.base import Call
from pipeline.status.store import Mutation
from pipeline.status.transitions import call_progress

log = structlog.get_logger(__name__)


class ProgressSink:
    """Throttled, best-effort progress writes for one call (its stages advance together:
    one pass)."""

    def __init__(
        self,
        write: Callable[[Mutation], StatusManifest],
        call: Call,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._call = call
        self._interval_s = interval_s
        self._clock = clock
        self._last = float("-inf")

    def __call__(self, fraction: float) -> None:
        """Record that the call is ``fraction`` done, if it is time to."""
        now = self._clock()
        if now - self._last < self._interval_s:
            return
        self._last = now
        mutation = call_progress(self._call, fraction)
        try:
            self._write(mutation)
        except LeaseLost:
            raise
        except ReelpipeError as exc:
            self._last = float("-inf")  # try again at the next frame
            log.warning("progress_write_failed", error=bounded_message(str(exc), 300))

"""What a running call does at every frame boundary, wherever it runs: the one place a
run stops.

At each frame a call stops if it was told to (the worker is shutting down, its lease
was taken over: ``interrupted()``), records its progress (throttled, best effort), stops
if its owner asked to cancel (seen as soon as a progress write meets the request), and
tells whoever watches for stalls that it is alive. The orchestrator's process and the
body of a remote call (a Modal container, a local segment process) build the same one.

Example::

    boundary = FrameBoundary(store.update, store, call, interrupted, interval_s=1.0)
    execute(bucket, settings, call, boundary)      # boundary(fraction) at every frame
    stop_if(interrupted, "after overlay, before recording it")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.core.errors import StageInterrupted
from pipeline.manifests.status import StatusManifest
from pipeline.stages.base import Call
from pipeline.status.progress import ProgressSink
from pipeline.status.store import Mutation, StatusStore

Interrupted = Callable[[], bool]


def never() -> bool:
    """Never told to stop."""
    return False


def stop_if(interrupted: Interrupted, where: str) -> None:
    """StageInterrupted (the run is handed back, not failed) once ``interrupted()`` is
    true; ``where`` says at what point, for the log."""
    if interrupted():
        raise StageInterrupted(f"stopping {where}")


def _alive() -> None:
    return None


@dataclass
class FrameBoundary:
    """The progress function a call is run with: ``boundary(fraction)`` at every frame."""

    write: Callable[[Mutation], StatusManifest]  # the status writes (and who hears them)
    store: StatusStore  # where a cancel request is seen
    call: Call
    interrupted: Interrupted = never
    interval_s: float = 1.0
    beat: Callable[[], None] = _alive  # a sign of life, for the lease keeper's stall limit
    _sink: ProgressSink = field(init=False)

    def __post_init__(self) -> None:
        self._sink = ProgressSink(self.write, self.call, self.interval_s)

    def __call__(self, fraction: float) -> None:
        """The call is ``fraction`` done, at a frame boundary."""
        stop_if(self.interrupted, f"{self.call.label} at a frame boundary")
        self._sink(fraction)
        self.store.check_cancel()
        self.beat()

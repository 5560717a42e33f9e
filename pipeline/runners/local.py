"""Run calls on this machine, with scratch space under the settings' scratch dir.

A call runs in this process. The calls of a parallel run (segments) go to
``settings.local_workers`` worker processes (spawned, each with its own S3
client), which run the same body as a Modal function and write their progress
into the job's status themselves. When the worker is told to stop, they stop at
their next frame boundary too (:mod:`pipeline.runners.segment_process`), and
when one segment fails, the others stop instead of finishing for nothing.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from pipeline.core.settings import Settings
from pipeline.core.usage import metered
from pipeline.core.waiting import wait_all
from pipeline.runners.ledger import busy_shares, charged
from pipeline.runners.segment_process import listen_for_stop, run_in_worker_process
from pipeline.runners.stage_call import execute_here
from pipeline.runners.wire import call_to_wire, is_failure, raise_carried, results_from_wire
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.storage.bucket import Bucket


class LocalRunner:
    """Runs calls in this process; the scratch directory is removed afterwards.
    Segment worker processes stop at a frame once ``stop`` is set (the worker's)."""

    def __init__(
        self, bucket: Bucket, settings: Settings, *, stop: threading.Event | None = None
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.stop = stop or threading.Event()

    @property
    def machine(self) -> str:
        """Every stage runs on this machine's CPU."""
        return "cpu"

    @property
    def retries_calls(self) -> bool:
        """No: the orchestrator retries a failed stage here."""
        return False

    @property
    def max_workers(self) -> int:
        """Local worker processes for segments (``REELPIPE_LOCAL_WORKERS``)."""
        return self.settings.local_workers

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        """Run ``call`` here, each stage charged its part of the CPU the call spends (its
        job's threads and children, never another job's)."""
        with metered() as meter:
            began = meter.seconds()
            results = execute_here(self.bucket, self.settings, call, progress)
            used = meter.seconds() - began
        return [
            charged(r, None, seconds=0.0, startup_s=0.0, cpu_used=used, share=share)
            for r, share in zip(results, busy_shares(results), strict=True)
        ]

    def map(self, calls: Sequence[Call], progress: ProgressFn) -> list[list[StageResult]]:
        """One after another here with one worker, else across worker processes."""
        count = len(calls)
        if self.settings.local_workers <= 1 or count == 1:
            return [self.run(c, _share_of(progress, i, count)) for i, c in enumerate(calls)]
        processes = min(self.settings.local_workers, count)
        # spawn, not fork: the parent holds threads (lease renewal, S3 pools).
        context = multiprocessing.get_context("spawn")
        told = context.Event()
        with ProcessPoolExecutor(
            processes, mp_context=context, initializer=listen_for_stop, initargs=(told,)
        ) as pool:
            futures = [
                pool.submit(run_in_worker_process, call_to_wire(c), self.settings) for c in calls
            ]

            def tell_if_stopping() -> None:
                if self.stop.is_set() or any(_failed(f) for f in futures if f.done()):
                    told.set()

            wait_all(futures, between=tell_if_stopping)
            wires = [f.result() for f in futures]
        # A failed segment's error, not the stops it caused in its siblings.
        for wire in sorted(wires, key=lambda w: "interrupted" in w):
            raise_carried(wire)
        return [results_from_wire(wire) for wire in wires]


def _failed(future: Future[dict[str, Any]]) -> bool:
    """A finished segment call that raised or answered with an error."""
    return future.exception() is not None or is_failure(future.result())


def _share_of(progress: ProgressFn, index: int, count: int) -> ProgressFn:
    """Part ``index`` of ``count`` run one after another: its share of the bar."""
    return lambda fraction: progress((index + fraction) / count)

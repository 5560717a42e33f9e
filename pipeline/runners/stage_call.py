"""A stage call out of the orchestrator's process (a Modal container, a local worker
process): JSON in, JSON out.

It rebuilds the stage request from JSON, runs it through the one execution body
(:func:`pipeline.stages.execute.execute`), and writes the stage's progress into
the job's status itself through the one progress sink (throttled, fenced by
the caller's lease, best effort): the caller only waits.
Job errors, a lost lease, a cancel request and a stop heard (``interrupted()``
turned true: the call stops at the next frame) come back as data; transient
errors are raised,
which is the platform's signal to retry the call. On a function that reserves a
machine (``machine``) the call is charged its seconds, and its container's start
on the first call, on all of that machine (:mod:`pipeline.runners.ledger`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from pipeline.core.errors import JobCancelled, JobError, LeaseLost, StageInterrupted
from pipeline.core.settings import Settings
from pipeline.core.usage import FirstCall, metered
from pipeline.runners.ledger import busy_shares, charged
from pipeline.runners.wire import (
    error_to_wire,
    group_from_wire,
    is_group,
    request_from_wire,
    result_to_wire,
    results_to_wire,
)
from pipeline.stages.execute import execute, execute_group
from pipeline.stages.table import Machine
from pipeline.status.progress import ProgressSink
from pipeline.status.store import StatusStore
from pipeline.status.transitions import stage_attempted
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


# A container's start is billed with its first call (and only that one).
_FIRST_CALL = FirstCall()


def execute_stage(
    wire: dict[str, Any],
    bucket: Bucket,
    settings: Settings,
    *,
    machine: Machine | None = None,
    interrupted: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Run one stage request, or a fused group of them (JSON in, JSON out), on ``machine``
    (the function's reservation, for the ledger; None: this computer's measured CPU),
    stopping at the next frame once ``interrupted()`` is true."""
    group = is_group(wire)
    requests = group_from_wire(wire) if group else [request_from_wire(wire)]
    head = requests[0]
    store = StatusStore(bucket, bucket.layout.status_key(head.user_id, head.job_id))
    if head.fence is not None:
        store = store.fenced(head.fence)
    sink = ProgressSink(store.update, requests if group else head, settings.progress_interval_s)

    def progress(fraction: float) -> None:
        if interrupted():
            raise StageInterrupted(f"stopping {head.stage.value} at a frame boundary")
        sink(fraction)
        store.check_cancel()  # at a frame boundary, as soon as a write has met the request

    try:
        for request in requests:
            if request.segment is None:  # each run of a whole stage is an attempt (retries too)
                store.update(stage_attempted(request.stage))
    except LeaseLost as exc:
        return error_to_wire(exc)
    startup_s = _FIRST_CALL.startup_s() if machine is not None else 0.0
    with metered() as meter:
        started, cpu_began = time.monotonic(), meter.seconds()
        try:
            if group:
                results = execute_group(bucket, settings, requests, progress)
            else:
                results = [execute(bucket, settings, head, progress)]
        except (JobError, LeaseLost, JobCancelled, StageInterrupted) as exc:
            return error_to_wire(exc)
        seconds = round(time.monotonic() - started, 3)
        used = meter.seconds() - cpu_began
    results = [
        charged(r, machine, seconds=seconds, startup_s=startup_s, cpu_used=used, share=share)
        for r, share in zip(results, busy_shares(results), strict=True)
    ]
    wire_result = results_to_wire(results) if group else result_to_wire(results[0])
    wire_result["seconds"] = seconds
    return wire_result

"""The body of a stage function running elsewhere (a Modal container).

It rebuilds the stage request from JSON, runs the stage with the same code the
local runner uses, and writes the stage's progress into the job's status
itself (compare-and-swap, throttled, fenced by the caller's lease, best
effort: a failed progress write never fails the stage): the caller only waits.
Job errors and a lost lease come back as data; transient errors are raised,
which is the platform's signal to retry the call. On a GPU function (``gpu``
named) the call's seconds are its GPU-seconds, which the status turns into cost.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import structlog

from pipeline.errors import JobError, LeaseLost, ReelpipeError
from pipeline.keys import status_key
from pipeline.runners.local import LocalRunner
from pipeline.runners.wire import error_to_wire, request_from_wire, result_to_wire
from pipeline.settings import Settings
from pipeline.status_store import StatusStore
from pipeline.status_transitions import segment_progress, stage_progress
from pipeline.storage import Bucket

log = structlog.get_logger(__name__)


def execute_stage(
    wire: dict[str, Any], bucket: Bucket, settings: Settings, *, gpu: str | None = None
) -> dict[str, Any]:
    """Run one stage request (JSON in, JSON out)."""
    request = request_from_wire(wire)
    store = StatusStore(bucket, status_key(request.user_id, request.job_id))
    if request.fence is not None:
        store = store.fenced(request.fence)
    last = [float("-inf")]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < settings.progress_interval_s:
            return
        last[0] = now
        if request.segment is None:
            mutation = stage_progress(request.stage, request.share, fraction)
        else:
            mutation = segment_progress(request.stage, request.share, request.segment, fraction)
        try:
            store.update(mutation)
        except LeaseLost:
            raise
        except ReelpipeError as exc:
            last[0] = float("-inf")  # try again at the next frame
            log.warning("progress_write_failed", error=str(exc))

    started = time.monotonic()
    try:
        result = LocalRunner(bucket, settings).run_stage(request, progress)
    except (JobError, LeaseLost) as exc:
        return error_to_wire(exc)
    seconds = round(time.monotonic() - started, 3)
    if gpu is not None:
        result = dataclasses.replace(result, gpu_seconds=seconds)
    wire_result = result_to_wire(result)
    wire_result["seconds"] = seconds
    return wire_result

"""A stage call out of the orchestrator's process (a Modal container, a local worker
process): JSON in, JSON out.

It rebuilds the stage request from JSON, runs it through the one execution body
(:func:`pipeline.stages.execute.execute`), and writes the stage's progress into
the job's status itself through the one progress sink (throttled, fenced by
the caller's lease, best effort): the caller only waits.
Job errors and a lost lease come back as data; transient errors are raised,
which is the platform's signal to retry the call. On a GPU function (``gpu``
named) the call's seconds are its GPU-seconds, which the status turns into cost.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import structlog

from pipeline.core.errors import JobError, LeaseLost
from pipeline.core.keys import status_key
from pipeline.core.settings import Settings
from pipeline.runners.wire import error_to_wire, request_from_wire, result_to_wire
from pipeline.stages.execute import execute
from pipeline.status.progress import ProgressSink
from pipeline.status.store import StatusStore
from pipeline.status.transitions import stage_attempted
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


def execute_stage(
    wire: dict[str, Any], bucket: Bucket, settings: Settings, *, gpu: str | None = None
) -> dict[str, Any]:
    """Run one stage request (JSON in, JSON out)."""
    request = request_from_wire(wire)
    store = StatusStore(bucket, status_key(request.user_id, request.job_id))
    if request.fence is not None:
        store = store.fenced(request.fence)
    progress = ProgressSink(store.update, request, settings.progress_interval_s)
    try:
        if request.segment is None:  # each run of a whole stage is an attempt (retries too)
            store.update(stage_attempted(request.stage))
    except LeaseLost as exc:
        return error_to_wire(exc)
    started = time.monotonic()
    try:
        result = execute(bucket, settings, request, progress)
    except (JobError, LeaseLost) as exc:
        return error_to_wire(exc)
    seconds = round(time.monotonic() - started, 3)
    if gpu is not None:
        result = dataclasses.replace(result, gpu_seconds=seconds)
    wire_result = result_to_wire(result)
    wire_result["seconds"] = seconds
    return wire_result

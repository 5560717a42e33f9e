"""A call out of the orchestrator's process (a Modal container, a local worker
process): JSON in, JSON out.

It rebuilds the call from JSON, runs it through the one execution body
(:func:`execute_here`: a reel's assembly, else :func:`pipeline.stages.execute.execute`),
and writes its progress into the job's status itself through the one frame boundary
(:mod:`pipeline.runners.frame_boundary`: throttled, fenced by the caller's lease, best
effort): the caller only waits.
Job errors, a lost lease, a cancel request and a stop heard (``interrupted()``
turned true: the call stops at the next frame) come back as data; transient
errors are raised,
which is the platform's signal to retry the call. On a function that reserves a
machine (``machine``) the call is charged its seconds, and its container's start
on the first call, on all of that machine (:mod:`pipeline.runners.ledger`).
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from pipeline.core.errors import JobCancelled, JobError, LeaseLost, StageInterrupted
from pipeline.core.settings import Settings
from pipeline.core.usage import FirstCall, metered
from pipeline.runners.frame_boundary import FrameBoundary, Interrupted, never
from pipeline.runners.ledger import busy_shares, charged
from pipeline.runners.wire import call_from_wire, error_to_wire, results_to_wire
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.stages.execute import execute
from pipeline.stages.table import Machine
from pipeline.status.store import StatusStore
from pipeline.status.transitions import stage_attempted
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


# A container's start is billed with its first call (and only that one).
_FIRST_CALL = FirstCall()


def execute_call(
    wire: dict[str, Any],
    bucket: Bucket,
    settings: Settings,
    *,
    machine: Machine | None = None,
    interrupted: Interrupted = never,
) -> dict[str, Any]:
    """Run one call (JSON in, JSON out) on ``machine`` (the function's reservation, for
    the ledger; None: this computer's measured CPU), stopping at the next frame once
    ``interrupted()`` is true."""
    call = call_from_wire(wire)
    store = StatusStore(bucket, bucket.layout.status_key(call.user_id, call.job_id))
    if call.fence is not None:
        store = store.fenced(call.fence)
    boundary = FrameBoundary(store.update, store, call, interrupted, settings.progress_interval_s)
    try:
        if call.attempts_stages:  # each run of whole stages is an attempt (retries too)
            for name in call.stages:
                store.update(stage_attempted(name))
    except LeaseLost as exc:
        return error_to_wire(exc)
    startup_s = _FIRST_CALL.startup_s() if machine is not None else 0.0
    with metered() as meter:
        started, cpu_began = time.monotonic(), meter.seconds()
        try:
            results = execute_here(bucket, settings, call, boundary)
        except (JobError, LeaseLost, JobCancelled, StageInterrupted) as exc:
            return error_to_wire(exc)
        seconds = round(time.monotonic() - started, 3)
        used = meter.seconds() - cpu_began
    results = [
        charged(r, machine, seconds=seconds, startup_s=startup_s, cpu_used=used, share=share)
        for r, share in zip(results, busy_shares(results), strict=True)
    ]
    return {**results_to_wire(results), "seconds": seconds}


def execute_here(
    bucket: Bucket, settings: Settings, call: Call, progress: ProgressFn
) -> list[StageResult]:
    """Run ``call`` on this machine: a reel's assembly, else its stages (one result per
    stage, in order)."""
    if call.assembly is not None:
        # Imported here: a reel's assembly brings OpenCV, PyAV and the moment finder,
        # which a clip's job started by ``reelpipe process`` need not load.
        from pipeline.jobs.reel_assembly_call import assemble_reel

        return [assemble_reel(bucket, settings, call.assembly, progress)]
    return execute(bucket, settings, call, progress)

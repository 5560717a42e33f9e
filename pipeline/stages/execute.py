"""The one body that runs a stage call, wherever it runs: in the orchestrator's process,
in a local worker process or in a Modal container (through
:mod:`pipeline.runners.stage_call`). A fused group of stages runs the same way,
as one pass (:mod:`pipeline.stages.fused`).

Example::

    result = execute(bucket, settings, request, progress)
    results = execute_group(bucket, settings, [framing, overlay], progress)
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.settings import Settings
from pipeline.stages.base import AnyStageRequest, ProgressFn, StageContext, StageResult
from pipeline.stages.fused import run_fused
from pipeline.stages.registry import stage_for
from pipeline.storage.bucket import Bucket


def execute(
    bucket: Bucket, settings: Settings, request: AnyStageRequest, progress: ProgressFn
) -> StageResult:
    """Run ``request``'s stage here, in scratch space under the settings' scratch dir
    (removed afterwards)."""
    scratch = settings.scratch_dir / request.job_id / request.stage.value
    if request.segment is not None:
        scratch = scratch / f"segment-{request.segment.index:03d}"
    scratch.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(bucket, settings, scratch, progress)
    try:
        return stage_for(request.stage).run(ctx, request)
    finally:
        ctx.cleanup()


def execute_group(
    bucket: Bucket,
    settings: Settings,
    requests: Sequence[AnyStageRequest],
    progress: ProgressFn,
) -> list[StageResult]:
    """Run adjacent stages as one fused pass here; one result per stage, in order."""
    names = "+".join(r.stage.value for r in requests)
    scratch = settings.scratch_dir / requests[0].job_id / names
    scratch.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(bucket, settings, scratch, progress)
    try:
        return run_fused(ctx, requests)
    finally:
        ctx.cleanup()

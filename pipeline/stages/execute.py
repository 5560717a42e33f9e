"""The one body that runs a stage call, wherever it runs: in the orchestrator's process,
in a local worker process or in a Modal container (through
:mod:`pipeline.runners.stage_call`).

Example::

    result = execute(bucket, settings, request, progress)
"""

from __future__ import annotations

from pipeline.core.settings import Settings
from pipeline.stages.base import AnyStageRequest, ProgressFn, StageContext, StageResult
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

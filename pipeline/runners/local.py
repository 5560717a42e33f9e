"""Run stages in this process, with scratch space under the settings' scratch dir."""

from __future__ import annotations

from pipeline.settings import Settings
from pipeline.stages.base import ProgressFn, StageContext, StageRequest, StageResult
from pipeline.stages.registry import stage_for
from pipeline.storage import Bucket


class LocalRunner:
    """Calls the stage code directly; the scratch directory is removed afterwards."""

    def __init__(self, bucket: Bucket, settings: Settings) -> None:
        self.bucket = bucket
        self.settings = settings

    def run_stage(self, request: StageRequest, progress: ProgressFn) -> StageResult:
        """Run one stage here."""
        scratch = self.settings.scratch_dir / request.job_id / request.stage.value
        scratch.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(self.bucket, self.settings, scratch, progress)
        try:
            return stage_for(request.stage).run(ctx, request)
        finally:
            ctx.cleanup()

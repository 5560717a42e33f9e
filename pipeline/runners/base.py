"""The runner contract the orchestrator calls stages through."""

from __future__ import annotations

from typing import Protocol

from pipeline.stages.base import ProgressFn, StageRequest, StageResult


class Runner(Protocol):
    """Executes one stage request somewhere and returns its result."""

    def run_stage(self, request: StageRequest, progress: ProgressFn) -> StageResult:
        """Run the stage named by ``request.stage``; ``progress(fraction)`` as it goes."""
        ...

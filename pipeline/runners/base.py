"""The runner contract the orchestrator calls stages through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.stages.base import AnyStageRequest, ProgressFn, StageResult


class Runner(Protocol):
    """Executes stage requests somewhere and returns their results."""

    @property
    def machine(self) -> str | None:
        """The compute profile every stage runs on here (None: each stage's own)."""
        ...

    @property
    def max_workers(self) -> int:
        """How many segments this runner can process at once."""
        ...

    @property
    def retries_calls(self) -> bool:
        """Whether the platform retries a failed stage call itself (Modal's ``Retries``):
        then the orchestrator calls once, and the call's body counts each attempt."""
        ...

    def run_stage(self, request: AnyStageRequest, progress: ProgressFn) -> StageResult:
        """Run the stage named by ``request.stage``; ``progress(fraction)`` as it goes."""
        ...

    def run_group(
        self, requests: Sequence[AnyStageRequest], progress: ProgressFn
    ) -> list[StageResult]:
        """Run adjacent stages as one fused pass, on the machine they share; results in order."""
        ...

    def run_segments(
        self, requests: Sequence[AnyStageRequest], progress: ProgressFn
    ) -> list[StageResult]:
        """Run the segments of one stage, in parallel where it can; results in order."""
        ...

"""The runner contract the orchestrator runs calls through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeline.stages.base import Call, ProgressFn, StageResult


class Runner(Protocol):
    """Runs calls (:class:`~pipeline.stages.base.Call`) somewhere and returns their results."""

    @property
    def machine(self) -> str | None:
        """The compute profile every stage runs on here (None: each stage's own)."""
        ...

    @property
    def max_workers(self) -> int:
        """How many calls (segments) this runner can run at once."""
        ...

    @property
    def retries_calls(self) -> bool:
        """Whether the platform retries a failed call itself (Modal's ``Retries``):
        then the orchestrator calls once, and the call's body counts each attempt."""
        ...

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        """Run ``call`` on its machine; one result per stage, in order;
        ``progress(fraction)`` as it goes."""
        ...

    def map(self, calls: Sequence[Call], progress: ProgressFn) -> list[list[StageResult]]:
        """Run ``calls`` (the segments of one stage), in parallel where it can; each
        call's results, in order."""
        ...

"""What a stage call used, for the cost ledger, wherever it ran.

On a machine that reserves resources (a Modal function, per the stage table) a
call is billed for its seconds plus, on its container's first call, the
container's start: the reserved cores and memory and the GPU for all of it,
busy or not. Here (no reservation) the call is charged the CPU seconds it
actually spent, ffmpeg included.

Example::

    result = charged(result, machine, seconds=12.5, startup_s=4.1, cpu_used=0.0)
    result.gpu_seconds, result.cpu_seconds      # 16.6, 66.4 on a 4-core T4 function
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pipeline.stages.base import StageResult
from pipeline.stages.table import Machine


def charged(
    result: StageResult,
    machine: Machine | None,
    *,
    seconds: float,
    startup_s: float,
    cpu_used: float,
    share: float = 1.0,
) -> StageResult:
    """``result`` with its use: ``share`` of a call of ``seconds`` (after ``startup_s`` of
    container start) on ``machine`` (None: this computer, ``cpu_used`` core-seconds)."""
    if machine is None:
        return dataclasses.replace(result, cpu_seconds=round(cpu_used * share, 3))
    billed = (seconds + startup_s) * share
    return dataclasses.replace(
        result,
        gpu=machine.gpu,
        gpu_seconds=round(billed, 3) if machine.gpu else 0.0,
        cpu_seconds=round(machine.cpu * billed, 3),
        memory_gib_seconds=round(machine.memory_mb / 1024 * billed, 3),
        startup_s=round(startup_s * share, 3),
    )


def busy_shares(results: Sequence[StageResult]) -> list[float]:
    """Each fused stage's part of its call: in proportion to its own seconds of the pass."""
    busy = [r.busy_s or 0.0 for r in results]
    total = sum(busy)
    if total <= 0:
        return [1.0 / len(results)] * len(results)
    return [b / total for b in busy]

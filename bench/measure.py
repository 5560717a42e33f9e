"""Timing for the benchmarks: wall time and CPU use (this process plus children)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """One measured run."""

    wall_s: float
    cpu_s: float

    @property
    def cores_busy(self) -> float:
        """Average number of cores kept busy."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_call(fn: Callable[[], object]) -> Timing:
    """Time ``fn()``."""
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    fn()
    return Timing(time.perf_counter() - t0, cpu_seconds() - cpu0)


def run(cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run a command, failing loudly."""
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, capture_output=True)


def best(runs: list[Timing]) -> Timing:
    """The least disturbed run (the minimum wall time), as timeit reports."""
    return min(runs, key=lambda t: t.wall_s)


def median(runs: list[Timing]) -> Timing:
    """The run with the median wall time."""
    ordered = sorted(runs, key=lambda t: t.wall_s)
    return ordered[len(ordered) // 2]


HEADER = (
    "| path | best wall s | median wall s | fps (best) | cores busy | x limit (best) "
    "| x limit (median) | x limit (paired) |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
)


def row(name: str, runs: list[Timing], frames: int, limit: list[Timing]) -> str:
    """One table row. Ratios use the best runs (this machine's neighbours are noisy)
    and, for comparison, the medians; paired: the median of each run's ratio to the
    limit's run of the same round (runs interleaved round by round), which the box's
    drift between rounds moves least."""
    b, m = best(runs), median(runs)
    paired = "-"  # rows of unequal run counts were not run round by round
    if len(runs) == len(limit):
        ratios = (a.wall_s / c.wall_s for a, c in zip(runs, limit, strict=True))
        paired = f"{statistics.median(ratios):.2f}x"
    return (
        f"| {name} | {b.wall_s:.2f} | {m.wall_s:.2f} | {frames / b.wall_s:.1f} | "
        f"{b.cores_busy:.2f} | {b.wall_s / best(limit).wall_s:.2f}x | "
        f"{m.wall_s / median(limit).wall_s:.2f}x | {paired} |"
    )

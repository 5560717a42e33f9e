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


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def time_call(fn: Callable[[], object]) -> Timing:
    """Time ``fn()``."""
    cpu0, t0 = _cpu(), time.perf_counter()
    fn()
    return Timing(time.perf_counter() - t0, _cpu() - cpu0)


def run(cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run a command, failing loudly."""
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, capture_output=True)


def median_timing(runs: list[Timing]) -> Timing:
    """The run with the median wall time."""
    ordered = sorted(runs, key=lambda t: t.wall_s)
    return ordered[len(ordered) // 2]


def row(name: str, timing: Timing, frames: int, limit: Timing | None) -> str:
    """One table row: wall, fps, cores busy, ratio to the limit."""
    ratio = f"{timing.wall_s / limit.wall_s:.2f}x" if limit else "-"
    return (
        f"| {name} | {timing.wall_s:.2f} | {frames / timing.wall_s:.1f} | "
        f"{timing.cores_busy:.2f} | {ratio} |"
    )


def spread(runs: list[Timing]) -> str:
    """Min-max of the wall times, for the reader to judge noise."""
    walls = [t.wall_s for t in runs]
    return f"{min(walls):.2f}-{max(walls):.2f} s (median {statistics.median(walls):.2f})"

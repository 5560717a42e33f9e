"""How many workers a stage gets, and what that costs.

With a CPU-only orchestrator, N GPU workers cost a start-up per container plus
the frames themselves (``F / fps`` GPU-seconds; 60 fps on a T4, as measured in production on Modal):

| workers | base GPU-s | wall time (s) |
| --- | --- | --- |
| 1 | 5 | 5 + F/60 |
| 2 | 14 | 12 + F/120 |
| 4 | 28 | 12 + F/240 |
| 8 | 56 | 12 + F/480 |

Short clips run on one GPU (faster *and* cheaper below ~28 s); the default
thresholds pick 2 workers for 30-90 s, 4 for 90-180 s and 8 above (the cost
objective); the time objective takes the fastest count. Start-up seconds and
frame rates live in ``settings.costs.compute``, prices in ``settings.costs.rates``
(:class:`pipeline.core.setting_groups.CostSettings`).

Example::

    plan = plan_segments(frame_count=1800, fps=30.0)
    plan.workers, plan.segments      # 2, [(0, 900), (900, 1800)]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pipeline.core.machines import DEFAULT_THRESHOLDS, MEASURED_T4, ComputeProfile, Thresholds

WORKER_OPTIONS = (1, 2, 4, 8)
T4_BILLED_USD_PER_S = 0.000463  # a T4 GPU-second as billed in production, all in


@dataclass(frozen=True)
class Estimate:
    """Predicted wall time, GPU-seconds and cost of one stage run."""

    workers: int
    wall_s: float
    gpu_s: float
    cost_usd: float


def estimate(
    frames: int,
    workers: int,
    profile: ComputeProfile = MEASURED_T4,
    stage: str = "overlay",
    usd_per_second: float = T4_BILLED_USD_PER_S,
    work_s: float | None = None,
) -> Estimate:
    """The model for ``frames`` frames of ``stage`` on ``workers`` machines that each
    cost ``usd_per_second`` (the T4's billed figure unless given); ``work_s``: the
    frames' seconds on one machine where the caller priced them by their pixels (see
    :mod:`pipeline.jobs.pass_model`), else ``frames`` over the stage's rate."""
    work = work_s if work_s is not None else frames / profile.fps_for(stage)
    if workers == 1:
        wall, busy = profile.startup_s + work, profile.startup_s + work
    else:
        wall = profile.parallel_wall_s + work / workers
        busy = profile.parallel_startup_s * workers + work
    return Estimate(workers, wall, busy, busy * usd_per_second)


def workers_for(duration_s: float, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> int:
    """How many workers a clip of ``duration_s`` gets."""
    for upto, workers in thresholds:
        if duration_s <= upto:
            return workers
    return thresholds[-1][1]


@dataclass(frozen=True)
class SegmentPlan:
    """Frame-exact ``[start, end)`` ranges, one per worker, covering every frame once."""

    workers: int
    segments: list[tuple[int, int]]


def split_frames(frame_count: int, workers: int) -> list[tuple[int, int]]:
    """``workers`` contiguous ranges as equal as possible (never an empty one)."""
    workers = max(1, min(workers, frame_count))
    bounds = [round(i * frame_count / workers) for i in range(workers + 1)]
    return list(itertools.pairwise(bounds))


def plan_segments(
    frame_count: int,
    fps: float,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    workers: int | None = None,
) -> SegmentPlan:
    """Split a clip for parallel workers (``workers`` overrides the thresholds)."""
    count = workers if workers is not None else workers_for(frame_count / fps, thresholds)
    segments = split_frames(frame_count, count)
    return SegmentPlan(len(segments), segments)

"""How many GPU workers a clip gets, and what that costs: the seed's cost model.

With a CPU-only orchestrator, N GPU workers cost a start-up per container plus
the frames themselves (``F / 60`` GPU-seconds at 60 fps a GPU):

| workers | base GPU-s | wall time (s) |
| --- | --- | --- |
| 1 | 5 | 5 + F/60 |
| 2 | 14 | 12 + F/120 |
| 4 | 28 | 12 + F/240 |
| 8 | 56 | 12 + F/480 |

Short clips run on one GPU (faster *and* cheaper below ~28 s); the default
thresholds pick 2 workers for 30-90 s, 4 for 90-180 s and 8 above.

Example::

    plan = plan_segments(frame_count=1800, fps=30.0)
    plan.workers, plan.segments      # 2, [(0, 900), (900, 1800)]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

GPU_FPS = 60.0  # frames a GPU worker processes per second (the seed's measurement)
T4_USD_PER_GPU_SECOND = 0.000463


@dataclass(frozen=True)
class WorkerCost:
    """The seed's measured overheads for one worker count."""

    workers: int
    base_gpu_s: float
    base_wall_s: float


COSTS: dict[int, WorkerCost] = {
    1: WorkerCost(1, 5.0, 5.0),
    2: WorkerCost(2, 14.0, 12.0),
    4: WorkerCost(4, 28.0, 12.0),
    8: WorkerCost(8, 56.0, 12.0),
}

# (clip seconds up to, workers): the seed's cost-optimised thresholds.
DEFAULT_THRESHOLDS: tuple[tuple[float, int], ...] = (
    (30.0, 1),
    (90.0, 2),
    (180.0, 4),
    (float("inf"), 8),
)


@dataclass(frozen=True)
class Estimate:
    """Predicted wall time, GPU-seconds and cost of a run."""

    workers: int
    wall_s: float
    gpu_s: float

    @property
    def cost_usd(self) -> float:
        """At T4 prices."""
        return self.gpu_s * T4_USD_PER_GPU_SECOND


def estimate(frames: int, workers: int) -> Estimate:
    """The seed's model for ``frames`` frames on ``workers`` GPUs."""
    cost = COSTS[workers]
    work = frames / GPU_FPS
    return Estimate(workers, cost.base_wall_s + work / workers, cost.base_gpu_s + work)


def break_even_seconds(workers: int, fps: float = 30.0) -> float:
    """Clip length above which ``workers`` GPUs finish sooner than one."""
    one, many = COSTS[1], COSTS[workers]
    # 5 + F/60 = 12 + F/(60 N)  ->  F = (12 - 5) / (1/60 - 1/(60 N))
    frames = (many.base_wall_s - one.base_wall_s) / (1 / GPU_FPS - 1 / (GPU_FPS * workers))
    return frames / fps


def workers_for(
    duration_s: float, thresholds: tuple[tuple[float, int], ...] = DEFAULT_THRESHOLDS
) -> int:
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
    thresholds: tuple[tuple[float, int], ...] = DEFAULT_THRESHOLDS,
    workers: int | None = None,
) -> SegmentPlan:
    """Split a clip for parallel workers (``workers`` overrides the thresholds)."""
    count = workers if workers is not None else workers_for(frame_count / fps, thresholds)
    segments = split_frames(frame_count, count)
    return SegmentPlan(len(segments), segments)

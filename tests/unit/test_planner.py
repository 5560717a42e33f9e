"""The planner reproduces the seed's thresholds, break-even points and cost table."""

from __future__ import annotations

import itertools

import pytest

from pipeline.core.machines import MEASURED_T4, ComputeProfile
from pipeline.jobs.cost_model import (
    estimate,
    plan_segments,
    split_frames,
    workers_for,
)


@pytest.mark.parametrize(
    ("seconds", "workers"),
    [(5, 1), (30, 1), (30.1, 2), (60, 2), (90, 2), (120, 4), (180, 4), (181, 8), (3600, 8)],
)
def test_default_thresholds(seconds: float, workers: int) -> None:
    """<=30 s: 1; 30-90 s: 2; 90-180 s: 4; above: 8."""
    assert workers_for(seconds) == workers


def test_thresholds_can_be_overridden() -> None:
    """A cost-sensitive operator can cap parallelism at 2."""
    assert workers_for(600, ((30.0, 1), (float("inf"), 2))) == 2


def break_even_seconds(
    workers: int, fps: float = 30.0, profile: ComputeProfile = MEASURED_T4
) -> float:
    """Clip length above which ``workers`` machines finish sooner than one."""
    rate = profile.fps_for("overlay")
    # start + F/r = wall_n + F/(r N)  ->  F = (wall_n - start) / (1/r - 1/(r N))
    frames = (profile.parallel_wall_s - profile.startup_s) / (1 / rate - 1 / (rate * workers))
    return frames / fps


@pytest.mark.parametrize(("workers", "seconds"), [(2, 28.0), (4, 18.7), (8, 16.0)])
def test_break_even_points_match_the_seed(workers: int, seconds: float) -> None:
    """1 vs 2 GPUs ~28 s, vs 4 ~19 s, vs 8 ~16 s (30 fps)."""
    assert break_even_seconds(workers) == pytest.approx(seconds, abs=0.5)


@pytest.mark.parametrize(
    ("workers", "wall_s", "gpu_s"),
    [(1, 35.0, 35.0), (2, 27.0, 44.0), (4, 19.5, 58.0), (8, 15.75, 86.0)],
)
def test_sixty_second_clip_costs_match_the_seed(workers: int, wall_s: float, gpu_s: float) -> None:
    """The seed's 60 s / 1,800-frame comparison table."""
    e = estimate(1800, workers)
    assert (e.wall_s, e.gpu_s) == pytest.approx((wall_s, gpu_s))
    assert e.cost_usd == pytest.approx(gpu_s * 0.000463)


@pytest.mark.parametrize(("frames", "workers"), [(1800, 4), (1801, 4), (7, 8), (10, 3), (1, 2)])
def test_segments_cover_every_frame_once(frames: int, workers: int) -> None:
    """Contiguous, non-empty, frame-exact, balanced to within one frame."""
    segments = split_frames(frames, workers)
    assert segments[0][0] == 0 and segments[-1][1] == frames
    assert all(a[1] == b[0] for a, b in itertools.pairwise(segments))
    sizes = [end - start for start, end in segments]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_plan_uses_the_clip_length() -> None:
    """A 60 s clip at 30 fps gets two halves."""
    plan = plan_segments(1800, 30.0)
    assert (plan.workers, plan.segments) == (2, [(0, 900), (900, 1800)])
    assert plan_segments(1800, 30.0, workers=3).segments == [(0, 600), (600, 1200), (1200, 1800)]

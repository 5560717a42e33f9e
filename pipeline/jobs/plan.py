"""Plan a whole job: per stage, the machine, the worker count, time and cost.

Detect, overlay and upscale may be split across workers; the count
comes from the clip length and the thresholds, as the orchestrator would pick
it on Modal. Framing changes how many frames later stages see (trim, speed, crop),
and each stage is priced by the pixels it decodes and encodes
(:mod:`pipeline.jobs.pass_model`). Beside the Modal plan, each stage carries its
time here (``local_s``): the job as the local runner runs it, fused groups as one pass.

Example::

    plan = plan_job(manifest.stages, probe(clip), settings)
    plan.total_cost_usd, [s.workers for s in plan.stages], plan.total_local_s
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.core.machines import ComputeProfile
from pipeline.core.settings import Settings
from pipeline.jobs.cost_model import WORKER_OPTIONS, Estimate, estimate, workers_for
from pipeline.jobs.fusion import fusion_groups
from pipeline.jobs.pass_model import StageShape, pass_seconds, stage_shapes
from pipeline.manifests.job import FramingParams, StageName, Stages
from pipeline.media.probe import VideoInfo
from pipeline.render.framing_plan import plan_timeline
from pipeline.stages.base import check_limits
from pipeline.stages.table import Machine, spec_for


@dataclass(frozen=True)
class StagePlan:
    """One stage's chosen configuration, and what the others would cost."""

    stage: StageName
    machine: str
    frames: int
    chosen: Estimate
    alternatives: list[Estimate] = field(default_factory=list)
    local_s: float = 0.0  # its seconds where the local runner runs the job

    def as_json(self) -> dict[str, Any]:
        """The ``reelpipe plan --json`` shape of this stage."""
        return {
            "stage": self.stage.value,
            "workers": self.chosen.workers,
            "gpu": self.machine,
            "frames": self.frames,
            "est_wall_s": round(self.chosen.wall_s, 2),
            "est_cost_usd": round(self.chosen.cost_usd, 5),
            "est_local_s": round(self.local_s, 2),
            "alternatives": [
                {
                    "workers": e.workers,
                    "est_wall_s": round(e.wall_s, 2),
                    "est_cost_usd": round(e.cost_usd, 5),
                }
                for e in self.alternatives
            ],
        }


@dataclass(frozen=True)
class JobPlan:
    """Every stage's plan; totals add the stages up (they run one after another)."""

    stages: list[StagePlan]

    @property
    def total_cost_usd(self) -> float:
        """Estimated cost of the job."""
        return sum(s.chosen.cost_usd for s in self.stages)

    @property
    def total_wall_s(self) -> float:
        """Estimated wall time of the job."""
        return sum(s.chosen.wall_s for s in self.stages)

    @property
    def total_local_s(self) -> float:
        """Estimated wall time of the job run here (the local runner)."""
        return sum(s.local_s for s in self.stages)

    def as_json(self) -> dict[str, Any]:
        """The ``reelpipe plan --json`` document."""
        return {
            "stages": [s.as_json() for s in self.stages],
            "total_cost_usd": round(self.total_cost_usd, 5),
            "total_wall_s": round(self.total_wall_s, 2),
            "total_local_s": round(self.total_local_s, 2),
        }


def stage_frames(stages: Stages, info: VideoInfo) -> list[tuple[StageName, int, float]]:
    """``(stage, frames it processes, their fps)`` in order: framing's trim and speed
    change what later stages see."""
    frames, fps = info.frame_count, float(info.fps)
    seen = []
    for name in stages.requested():
        seen.append((name, frames, fps))
        if name is StageName.FRAMING:
            params = stages.framing
            assert isinstance(params, FramingParams)
            timeline = plan_timeline(params, info)
            frames, fps = timeline.output_frames, timeline.output_fps
    return seen


def stage_machine(settings: Settings, stage: StageName) -> tuple[str, ComputeProfile]:
    """The machine ``stage`` runs on in the cost model (the stage table's, unless the
    settings say otherwise) and its profile."""
    name = (
        settings.costs.stage_compute.get(stage.value) or deployed_machine(settings, stage).compute
    )
    return name, settings.costs.compute[name]


def deployed_machine(settings: Settings, stage: StageName) -> Machine:
    """The machine the stage table deploys ``stage`` on with these settings' encoder."""
    return spec_for(stage).machine_for(settings.video_encoder)


def stage_usd_per_second(settings: Settings, stage: StageName) -> float:
    """A second of one worker of ``stage``: its GPU (the cost model's machine), the cores
    and memory its function reserves, at the settings' rates."""
    name, _ = stage_machine(settings, stage)
    machine = deployed_machine(settings, stage)
    return settings.costs.rates.per_second(
        None if name == "cpu" else name, machine.cpu, machine.memory_mb
    )


LOCAL_MACHINE = "cpu"  # the profile the local runner's stages run on


def stage_seconds(
    stages: Stages, info: VideoInfo, settings: Settings, *, machine: str | None = None
) -> list[float]:
    """Each stage's estimated time, in order, by the pixels it handles.

    ``machine`` names the one machine every stage runs on (the local runner's): its
    fused groups are one pass each, shared among their stages as the pass's clock
    shares it, and a stage split into the settings' local workers runs over this
    machine's cores. None: each stage alone on the machine the settings give it,
    without start-ups (the cost model adds those)."""
    shapes = stage_shapes(stages, info, settings)
    if machine is None:
        return [pass_seconds([s], stage_machine(settings, s.stage)[1])[0] for s in shapes]
    profile = settings.costs.compute[machine]
    groups = fusion_groups(stages.requested(), settings, machine=machine)
    seconds: list[float] = []
    for group in groups:
        members = shapes[len(seconds) : len(seconds) + len(group)]
        parts = pass_seconds(members, profile)
        if len(members) == 1:
            parts = [_split_here(members[0], parts[0], settings, profile)]
        seconds.extend(parts)
    return seconds


def _split_here(
    shape: StageShape, seconds: float, settings: Settings, profile: ComputeProfile
) -> float:
    """A stage alone split over the local workers (as the orchestrator splits it): each
    part starts its own pass and the parts share this machine's cores. Not measured
    here: the bench's jobs run whole (one local worker, the default)."""
    if not spec_for(shape.stage).splits:
        return seconds
    workers = settings.costs.segment_workers or min(
        workers_for(shape.frames_in / shape.fps, settings.costs.segment_thresholds),
        settings.local_workers,
    )
    if workers <= 1:
        return seconds
    cost = profile.pass_cost(shape.stage.value, shape.mode)
    start = cost.start_s if cost else 0.0
    lanes = min(workers, os.cpu_count() or 1)
    return 2 * start + (seconds - start) / lanes


class Objective(StrEnum):
    """What a plan minimises when it picks the worker count of a splittable stage."""

    COST = "cost"  # the cost-optimised thresholds (2 workers for 30-90 s clips)
    TIME = "time"  # the fastest count, whatever the extra start-ups cost


def plan_job(
    stages: Stages, info: VideoInfo, settings: Settings, objective: Objective = Objective.COST
) -> JobPlan:
    """Plan ``stages`` for a clip described by ``info`` as they run on Modal: stages fused
    into one call run whole and pay one container start. A clip over the settings' limits
    is refused here (LimitExceeded), before anything is estimated or run."""
    check_limits(info, settings.limits)
    groups = fusion_groups(stages.requested(), settings, machine=None)
    fused_into = {name: group[0] for group in groups if len(group) > 1 for name in group}
    work = _modal_work(groups, stage_shapes(stages, info, settings), settings)
    local = stage_seconds(stages, info, settings, machine=LOCAL_MACHINE)
    plans = []
    for (name, frames, fps), local_s in zip(stage_frames(stages, info), local, strict=True):
        machine, profile = stage_machine(settings, name)
        if name in fused_into:
            options, chosen = [1], 1
            if fused_into[name] is not name:  # the call's start is paid by its first stage
                profile = profile.model_copy(update={"startup_s": 0.0})
        elif spec_for(name).splits:
            options = [w for w in WORKER_OPTIONS if w <= settings.costs.max_segment_workers]
            chosen = settings.costs.segment_workers or min(
                workers_for(frames / fps, settings.costs.segment_thresholds),
                settings.costs.max_segment_workers,
            )
        else:
            options, chosen = [1], 1
        price = stage_usd_per_second(settings, name)
        estimates = {
            w: estimate(frames, w, profile, name.value, price, work_s=work[name])
            for w in {*options, chosen}
        }
        if objective is Objective.TIME and settings.costs.segment_workers is None:
            chosen = min(estimates, key=lambda w: (estimates[w].wall_s, w))
        plans.append(
            StagePlan(
                stage=name,
                machine=machine,
                frames=frames,
                chosen=estimates[chosen],
                alternatives=[estimates[w] for w in sorted(estimates) if w != chosen],
                local_s=local_s,
            )
        )
    return JobPlan(plans)


def _modal_work(
    groups: list[list[StageName]], shapes: list[StageShape], settings: Settings
) -> dict[StageName, float]:
    """Each stage's seconds of work on its Modal machine, without start-ups: a fused
    group's stages their parts of one pass."""
    work: dict[StageName, float] = {}
    done = 0
    for group in groups:
        members = shapes[done : done + len(group)]
        done += len(group)
        profile = stage_machine(settings, group[0])[1]
        parts = pass_seconds(members, profile)
        head = profile.pass_cost(members[0].stage.value, members[0].mode)
        parts[0] = max(0.0, parts[0] - (head.start_s if head else 0.0))  # the call's start-up
        work.update(zip(group, parts, strict=True))
    return work

"""The status transitions of a running job, as compare-and-swap mutations.

Each function returns a :data:`~pipeline.status_store.Mutation` that the
orchestrator hands to ``StatusStore.update`` (re-applied on conflict).
Overall progress: 3% for set-up, 95% shared by the stages in proportion to
their estimated time (the planner's frames x per-stage rate on the machine that
runs them, so the bar moves steadily through a slow detect or upscale), the
last 2% for saving; a stage's part follows its own frame loop.
"""

from __future__ import annotations

from pipeline.manifests.job import StageName
from pipeline.manifests.status import Progress, StageState, StageStatus, StatusManifest, utc_now
from pipeline.stages.base import ProgressShare, Segment, StageResult
from pipeline.status_store import Mutation

SETUP_SHARE, STAGES_SHARE = 3.0, 95.0  # percent of the bar before and during the stages


def stage_started(name: StageName, share: ProgressShare, workers: int = 1) -> Mutation:
    def mutate(s: StatusManifest) -> StatusManifest:
        return s.with_stage(
            name,
            state=StageState.RUNNING,
            progress=0.0,
            attempts=s.stages[name].attempts + 1,
            started_at=utc_now(),
            workers=workers,
            segments=[0.0] * workers if workers > 1 else [],
        ).model_copy(update={"progress": overall_progress(share, 0.0, name)})

    return mutate


def stage_progress(name: StageName, share: ProgressShare, fraction: float) -> Mutation:
    def mutate(s: StatusManifest) -> StatusManifest:
        return s.with_stage(name, progress=round(100 * fraction, 1)).model_copy(
            update={"progress": overall_progress(share, fraction, name)}
        )

    return mutate


def segment_progress(
    name: StageName, share: ProgressShare, segment: Segment, fraction: float
) -> Mutation:
    """One segment's progress; the stage's is the mean over its segments."""

    def mutate(s: StatusManifest) -> StatusManifest:
        parts = list(s.stages[name].segments)
        parts += [0.0] * (segment.count - len(parts))
        parts[segment.index] = round(100 * fraction, 1)
        done = sum(parts) / len(parts) / 100
        return s.with_stage(name, segments=parts, progress=round(100 * done, 1)).model_copy(
            update={"progress": overall_progress(share, done, name)}
        )

    return mutate


def stage_finished(
    name: StageName,
    share: ProgressShare,
    result: StageResult,
    duration: float,
    cache_key: str,
    usd_per_gpu_second: float = 0.0,
) -> Mutation:
    fps = round(result.frames / duration, 2) if duration > 0 else None
    cost = result.gpu_seconds * usd_per_gpu_second

    def mutate(s: StatusManifest) -> StatusManifest:
        return s.with_stage(
            name,
            state=StageState.SUCCEEDED,
            progress=100.0,
            finished_at=utc_now(),
            duration_s=round(duration, 3),
            frames=result.frames,
            fps=fps,
            backend=result.backend,
            outputs=result.outputs,
            gpu_seconds=result.gpu_seconds,
            segments=[],
            cache_key=cache_key,
            details=dict(result.details),
        ).model_copy(
            update={
                "progress": overall_progress(share, 1.0, name),
                "gpu_seconds": round(s.gpu_seconds + result.gpu_seconds, 3),
                "cost_usd": round(s.cost_usd + cost, 6),
                "warnings": list(dict.fromkeys([*s.warnings, *result.warnings])),
            }
        )

    return mutate


def pending_stage() -> StageStatus:
    return StageStatus()


def overall_progress(share: ProgressShare, fraction: float, name: StageName) -> Progress:
    """The job's bar with stage ``name`` ``fraction`` done."""
    percent = SETUP_SHARE + STAGES_SHARE * share.at(fraction)
    done = fraction >= 1.0
    message = "saving" if done and share.last else f"{name.value} {round(100 * fraction)}%"
    return Progress(percent=round(min(percent, 99.0), 1), message=message)

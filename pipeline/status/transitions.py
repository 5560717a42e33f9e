"""Every change of a job's status, as named, typed functions: the only place a status
is rebuilt field by field.

Job transitions take the current status and return the next one, validated
(:func:`running`, :func:`waiting_for_input`, :func:`succeeded`, :func:`failed`,
:func:`leased`, :func:`renewed`, :func:`handed_back`, :func:`requeued`,
:func:`progressed`); stage transitions return a
:data:`~pipeline.status.store.Mutation` that the orchestrator hands to
``StatusStore.update`` (re-applied on conflict). Callers pass them to the store::

    store.update(lambda s: succeeded(s, outputs=outputs, output_key=key, duration_s=4.2))

Overall progress: 3% for set-up, 95% shared by the stages in proportion to
their estimated time (the planner's frames x per-stage rate on the machine that
runs them, so the bar moves steadily through a slow detect or upscale), the
last 2% for saving; a stage's part follows its own frame loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline import PIPELINE_VERSION
from pipeline.core.errors import ErrorKind, TransitionRefused
from pipeline.core.machines import Rates
from pipeline.manifests.job import CallbackEvent, Notify, StageName
from pipeline.manifests.status import (
    ErrorInfo,
    JobKind,
    JobState,
    Lease,
    Notification,
    Progress,
    RunCounts,
    StageState,
    StageStatus,
    StatusManifest,
    StepStatus,
    utc_now,
)
from pipeline.stages.base import Call, ProgressShare, StageResult
from pipeline.status.store import Mutation

SETUP_SHARE, STAGES_SHARE = 3.0, 95.0  # percent of the bar before and during the stages

_UNFINISHED = frozenset({JobState.QUEUED, JobState.WAITING_FOR_INPUT, JobState.RUNNING})
# The states each job transition may leave; any other raises TransitionRefused (and the
# store writes nothing): a finished job is never run, succeeded, failed or cancelled
# again, only requeued, and only a running job succeeds.
LEAVES: dict[str, frozenset[JobState]] = {
    "running": _UNFINISHED,
    "waiting_for_input": _UNFINISHED,
    "succeeded": frozenset({JobState.RUNNING}),
    "failed": _UNFINISHED,
    "cancelled": _UNFINISHED,
    "requeued": frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
}


def _leaving(status: StatusManifest, transition: str) -> None:
    """Refuse ``transition`` unless the job's state is one it leaves (see LEAVES)."""
    if status.state not in LEAVES[transition]:
        raise TransitionRefused(
            f"job {status.job_id}: a {status.state.value} job cannot be made {transition}"
        )


def _changed(status: StatusManifest, **changes: Any) -> StatusManifest:
    """``status`` with ``changes``, validated as a whole (an unknown field is an error)."""
    return StatusManifest.model_validate({**dict(status), **changes})


def with_stage(status: StatusManifest, name: StageName, **changes: Any) -> StatusManifest:
    """``status`` with one stage's fields changed, validated."""
    current = status.stages.get(name, StageStatus())
    stage = StageStatus.model_validate({**dict(current), **changes})
    return _changed(status, stages={**status.stages, name: stage})


# -- the job ------------------------------------------------------------------------


def running(
    status: StatusManifest,
    *,
    input_key: str,
    stages: Sequence[StageName],
    estimated_cost_usd: float | None,
    notify: Notify | None = None,
    plan_s: Mapping[StageName, float] | None = None,
) -> StatusManifest:
    """A run of the job begins (again): its stages listed, stages already done kept, each
    with the planner's estimate of its time (``plan_s``) when there is one."""
    _leaving(status, "running")
    planned = plan_s or {}

    def listed(name: StageName) -> StageStatus:
        record = status.stages.get(name, StageStatus())
        if name not in planned:
            return record
        return StageStatus.model_validate({**dict(record), "plan_s": round(planned[name], 3)})

    return _changed(
        status,
        notify=notify,
        state=JobState.RUNNING,
        input_key=input_key,
        attempts=status.attempts + 1,
        started_at=status.started_at or utc_now(),
        waiting_since=None,
        error=None,
        pipeline_version=PIPELINE_VERSION,
        estimated_cost_usd=estimated_cost_usd,
        stages={name: listed(name) for name in stages},
        progress=Progress(percent=SETUP_SHARE, message="starting"),
    )


def as_reel(status: StatusManifest) -> StatusManifest:
    """The job makes a reel (its clips made by jobs of their own): said in its status."""
    if status.kind is JobKind.REEL:
        return status
    return _changed(status, kind=JobKind.REEL)


def superseded(status: StatusManifest, job_id: str) -> StatusManifest:
    """A later upload under the job's request id became ``job_id``: linked once (a job
    linked onward already is left as it is: the caller follows that link)."""
    if status.superseded_by is not None:
        return status
    return _changed(status, superseded_by=job_id)


def replacing(status: StatusManifest, job_id: str) -> StatusManifest:
    """The job's upload came after ``job_id``'s under the same request id."""
    if status.replaces == job_id:
        return status
    return _changed(status, replaces=job_id)


def waiting_for_input(status: StatusManifest, *, since: datetime, missing: str) -> StatusManifest:
    """The clip is not there yet: the job waits for it (since ``since``)."""
    _leaving(status, "waiting_for_input")
    return _changed(
        status,
        state=JobState.WAITING_FOR_INPUT,
        waiting_since=since,
        progress=Progress(percent=0.0, message=f"waiting for the clip to be uploaded: {missing}"),
    )


def progressed(status: StatusManifest, progress: Progress) -> StatusManifest:
    """The job's bar moved (a stage reused from the cache)."""
    return _changed(status, progress=progress)


def succeeded(
    status: StatusManifest, *, outputs: Mapping[str, str], output_key: str, duration_s: float
) -> StatusManifest:
    """Every stage is done: the job's outputs, and the lease given up."""
    _leaving(status, "succeeded")
    return _changed(
        status,
        state=JobState.SUCCEEDED,
        progress=Progress(percent=100.0, message="complete"),
        outputs=dict(outputs),
        output_key=output_key,
        error=None,
        lease=None,
        finished_at=utc_now(),
        duration_s=round(duration_s, 3),
    )


def failed(
    status: StatusManifest, *, error: ErrorInfo, stage: StageName | None, duration_s: float
) -> StatusManifest:
    """The job failed (in ``stage``, when one was running): the error, the lease given up.
    Stages fused with it in the same pass did not finish either: they are pending again."""
    _leaving(status, "failed")
    if stage is not None and stage in status.stages:
        status = with_stage(status, stage, state=StageState.FAILED, finished_at=utc_now())
    for name, record in status.stages.items():
        if name is not stage and record.state is StageState.RUNNING:
            status = with_stage(status, name, state=StageState.PENDING, progress=0.0)
    kind: ErrorKind = error.kind
    return _changed(
        status,
        state=JobState.FAILED,
        error=error,
        progress=Progress(percent=status.progress.percent, message=f"failed: {kind.value}"),
        finished_at=utc_now(),
        duration_s=round(duration_s, 3),
        lease=None,
    )


def notified(status: StatusManifest, record: Notification) -> StatusManifest:
    """A callback was tried: its record replaces the one with its ``webhook_id`` (progress
    keeps one record, the latest)."""
    others = [n for n in status.notifications if n.webhook_id != record.webhook_id]
    if record.event is CallbackEvent.PROGRESS:
        others = [n for n in others if n.event is not CallbackEvent.PROGRESS]
    return _changed(status, notifications=[*others, record])


def warned(status: StatusManifest, message: str) -> StatusManifest:
    """Something was left out rather than failing the job: say what, once."""
    if message in status.warnings:
        return status
    return _changed(status, warnings=[*status.warnings, message])


def cancel_requested(status: StatusManifest) -> StatusManifest:
    """The owner asks to cancel: a job not started yet is cancelled at once; a running one
    is marked, and its worker stops at the next frame boundary; a finished one is left. A
    reel waiting for a clip is marked too: its next pass cancels its clips' jobs first."""
    if status.state.finished or status.cancel_requested_at is not None:
        return status
    now = utc_now()
    reel_waiting = status.kind is JobKind.REEL and status.state is JobState.WAITING_FOR_INPUT
    if status.state is JobState.RUNNING or reel_waiting:
        return _changed(status, cancel_requested_at=now)
    return _changed(
        cancelled(status, outputs={}, duration_s=0.0), cancel_requested_at=now, lease=None
    )


def cancelled(
    status: StatusManifest, *, outputs: Mapping[str, str], duration_s: float
) -> StatusManifest:
    """The job stopped on its owner's request: finished stages keep their outputs, the
    stages that were running are marked cancelled, the lease is given up."""
    _leaving(status, "cancelled")
    for name, record in status.stages.items():
        if record.state in (StageState.RUNNING, StageState.PENDING):
            status = with_stage(status, name, state=StageState.CANCELLED, finished_at=utc_now())
    return _changed(
        status,
        state=JobState.CANCELLED,
        outputs=dict(outputs),
        progress=Progress(percent=status.progress.percent, message="cancelled"),
        finished_at=utc_now(),
        duration_s=round(duration_s, 3),
        lease=None,
    )


def leased(status: StatusManifest, lease: Lease, *, died: bool) -> StatusManifest:
    """A worker takes the job at a new epoch (``died``: the last one never handed it back)."""
    runs = RunCounts.model_validate(
        {**dict(status.runs), "epoch": status.runs.epoch + 1, "deaths": status.runs.deaths + died}
    )
    return _changed(status, lease=lease, runs=runs)


def renewed(status: StatusManifest, lease: Lease) -> StatusManifest:
    """The worker holding the job extends its lease."""
    return _changed(status, lease=lease)


def handed_back(status: StatusManifest, *, crashed: bool) -> StatusManifest:
    """The worker gives the job up: after a crash, or to let another resume it (counted
    only while running; a job waiting for its clip just waits)."""
    runs = status.runs
    if crashed:
        runs = RunCounts.model_validate({**dict(runs), "crashes": runs.crashes + 1})
    elif status.state is JobState.RUNNING:
        runs = RunCounts.model_validate({**dict(runs), "handbacks": runs.handbacks + 1})
    return _changed(status, lease=None, runs=runs)


def requeued(status: StatusManifest, claim: Lease) -> StatusManifest:
    """A finished job goes back to the queue under ``claim`` (nightly reprocessing): its
    attempts and failures start again; its epoch goes on."""
    _leaving(status, "requeued")
    runs = RunCounts.model_validate(
        {**dict(status.runs), "deaths": 0, "crashes": 0, "handbacks": 0}
    )
    return _changed(
        status,
        state=JobState.QUEUED,
        error=None,
        finished_at=None,
        attempts=0,
        runs=runs,
        progress=Progress(percent=0.0, message="queued for reprocessing"),
        lease=claim,
    )


# -- a stage --------------------------------------------------------------------------


def stage_started(
    name: StageName, share: ProgressShare, workers: int = 1, *, counted: bool = True
) -> Mutation:
    """Stage ``name`` begins (another attempt, ``counted`` here unless the call's body
    counts it: see :func:`stage_attempted`), on ``workers`` segments."""

    def mutate(s: StatusManifest) -> StatusManifest:
        s = with_stage(
            s,
            name,
            state=StageState.RUNNING,
            progress=0.0,
            attempts=s.stages[name].attempts + int(counted),
            started_at=utc_now(),
            workers=workers,
            segments=[0.0] * workers if workers > 1 else [],
        )
        return _changed(s, progress=overall_progress(share, 0.0, name))

    return mutate


def stage_attempted(name: StageName) -> Mutation:
    """A platform that retries calls itself ran stage ``name`` once more."""

    def mutate(s: StatusManifest) -> StatusManifest:
        return with_stage(s, name, attempts=s.stages[name].attempts + 1)

    return mutate


def call_progress(call: Call, fraction: float) -> Mutation:
    """The stages of ``call`` are ``fraction`` done (one pass: they advance together, on
    their joint part of the bar); a segment's call moves its own part, and its stage's
    progress is the mean over the stage's segments."""
    segment = call.segment
    if call.assembly is not None:
        percent = round(min(SETUP_SHARE + STAGES_SHARE * fraction, 99.0), 1)
        message = f"assembling the reel {round(100 * fraction)}%"
        return lambda s: _changed(s, progress=Progress(percent=percent, message=message))

    def mutate(s: StatusManifest) -> StatusManifest:
        done = fraction
        for name in call.stages:
            if segment is None:
                s = with_stage(s, name, progress=round(100 * fraction, 1))
                continue
            parts = list(s.stages[name].segments)
            parts += [0.0] * (segment.count - len(parts))
            parts[segment.index] = round(100 * fraction, 1)
            done = sum(parts) / len(parts) / 100
            s = with_stage(s, name, segments=parts, progress=round(100 * done, 1))
        return _changed(s, progress=overall_progress(call.share, done, *call.stages))

    return mutate


def stage_finished(
    name: StageName,
    share: ProgressShare,
    result: StageResult,
    duration: float,
    cache_key: str,
    rates: Rates | None = None,
) -> Mutation:
    """Stage ``name`` succeeded: its record with its use priced at ``rates``, and the
    job's totals."""
    fps = round(result.frames / duration, 2) if duration > 0 else None
    rates = rates or Rates()
    cost = rates.price(
        result.gpu, result.gpu_seconds, result.cpu_seconds, result.memory_gib_seconds
    )

    def mutate(s: StatusManifest) -> StatusManifest:
        s = with_stage(
            s,
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
            cpu_seconds=round(result.cpu_seconds, 3),
            memory_gib_seconds=round(result.memory_gib_seconds, 3),
            startup_s=round(result.startup_s, 3),
            cost_usd=round(cost, 6),
            segments=[],
            cache_key=cache_key,
            details=dict(result.details),
        )
        return _changed(
            s,
            progress=overall_progress(share, 1.0, name),
            gpu_seconds=round(s.gpu_seconds + result.gpu_seconds, 3),
            cpu_seconds=round(s.cpu_seconds + result.cpu_seconds, 3),
            memory_gib_seconds=round(s.memory_gib_seconds + result.memory_gib_seconds, 3),
            cost_usd=round(s.cost_usd + cost, 6),
            warnings=list(dict.fromkeys([*s.warnings, *result.warnings])),
        )

    return mutate


def step_charged(name: StageName, result: StageResult, rates: Rates | None = None) -> Mutation:
    """A step that served finished stage ``name`` after its record was written (the
    previews call): its use priced at ``rates``, added to that stage's line and to the
    job's totals."""
    rates = rates or Rates()
    cost = rates.price(
        result.gpu, result.gpu_seconds, result.cpu_seconds, result.memory_gib_seconds
    )

    def mutate(s: StatusManifest) -> StatusManifest:
        line = s.stages[name]
        s = with_stage(
            s,
            name,
            gpu_seconds=round(line.gpu_seconds + result.gpu_seconds, 3),
            cpu_seconds=round(line.cpu_seconds + result.cpu_seconds, 3),
            memory_gib_seconds=round(line.memory_gib_seconds + result.memory_gib_seconds, 3),
            startup_s=round(line.startup_s + result.startup_s, 3),
            cost_usd=round(line.cost_usd + cost, 6),
        )
        return _changed(
            s,
            gpu_seconds=round(s.gpu_seconds + result.gpu_seconds, 3),
            cpu_seconds=round(s.cpu_seconds + result.cpu_seconds, 3),
            memory_gib_seconds=round(s.memory_gib_seconds + result.memory_gib_seconds, 3),
            cost_usd=round(s.cost_usd + cost, 6),
        )

    return mutate


def step_recorded(
    name: str, result: StageResult, duration_s: float, cache_key: str, rates: Rates | None = None
) -> Mutation:
    """A call that serves no stage (a reel's assembly, ``name``) finished: its own line in
    the ledger (with its ``cache_key`` and what it wrote, for a rerun to reuse), its use
    priced at ``rates`` and added to the job's totals."""
    rates = rates or Rates()
    cost = rates.price(
        result.gpu, result.gpu_seconds, result.cpu_seconds, result.memory_gib_seconds
    )
    line = StepStatus(
        duration_s=round(duration_s, 3),
        gpu_seconds=result.gpu_seconds,
        cpu_seconds=result.cpu_seconds,
        memory_gib_seconds=result.memory_gib_seconds,
        startup_s=result.startup_s,
        cost_usd=round(cost, 6),
        cache_key=cache_key,
        outputs={str(k): str(v) for k, v in result.details.get("outputs", {}).items()},
    )

    def mutate(s: StatusManifest) -> StatusManifest:
        return _changed(
            s,
            steps={**s.steps, name: line},
            gpu_seconds=round(s.gpu_seconds + result.gpu_seconds, 3),
            cpu_seconds=round(s.cpu_seconds + result.cpu_seconds, 3),
            memory_gib_seconds=round(s.memory_gib_seconds + result.memory_gib_seconds, 3),
            cost_usd=round(s.cost_usd + cost, 6),
        )

    return mutate


def orchestrator_charged(
    status: StatusManifest, *, cpu_seconds: float, memory_gib_seconds: float, cost_usd: float
) -> StatusManifest:
    """The orchestrator's own use over the run, added to the job's totals."""
    return _changed(
        status,
        cpu_seconds=round(status.cpu_seconds + cpu_seconds, 3),
        memory_gib_seconds=round(status.memory_gib_seconds + memory_gib_seconds, 3),
        cost_usd=round(status.cost_usd + cost_usd, 6),
    )


def overall_progress(share: ProgressShare, fraction: float, *names: StageName) -> Progress:
    """The job's bar with stage ``name`` (or the fused stages ``names``) ``fraction`` done."""
    percent = SETUP_SHARE + STAGES_SHARE * share.at(fraction)
    done = fraction >= 1.0
    label = "+".join(n.value for n in names)
    message = "saving" if done and share.last else f"{label} {round(100 * fraction)}%"
    return Progress(percent=round(min(percent, 99.0), 1), message=message)

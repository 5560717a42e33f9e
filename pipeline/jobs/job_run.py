"""One run of one job: everything the run holds, and one method per way it ends.

The shape of an idempotency handler: one object per invocation owns its store (fenced
by the run's lease), its one clock, what its finished calls wrote (``upstream``, the
video the next call reads, the job's poster and preview), the next stage's index and
what its calls were charged; :meth:`JobRun.succeed`, :meth:`JobRun.fail`,
:meth:`JobRun.cancel` and :meth:`JobRun.wait_for_input` end it, each through the guarded
transitions of :mod:`pipeline.status.transitions` (a cancelled or finished job is never
succeeded). Its :meth:`JobRun.frame_boundary` is the one the remote call body builds
too (:mod:`pipeline.runners.frame_boundary`), with the run's sign of life added.

Example::

    run = JobRun(job.status, settings, interrupted=stop.is_set)
    run.start(input_key, stages, estimated_cost_usd=0.02)
    run.record(call, runner.run(call, run.frame_boundary(call)))
    run.succeed(previews={})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from pipeline.core.errors import ErrorKind, InputNotFound, ReelpipeError, bounded_message, redact
from pipeline.core.public_text import public_message
from pipeline.core.settings import Settings
from pipeline.core.usage import FirstCall, JobMeter
from pipeline.jobs.lease import Activity
from pipeline.manifests.job import JobManifest, StageName
from pipeline.manifests.status import ErrorInfo, JobState, StatusManifest, utc_now
from pipeline.runners.frame_boundary import FrameBoundary, Interrupted, never, stop_if
from pipeline.stages.base import Call, ProgressShare, StageRequest, StageResult
from pipeline.stages.table import Artifact, Machine
from pipeline.status.store import Mutation, StatusStore
from pipeline.status.transitions import (
    cancelled,
    failed,
    orchestrator_charged,
    running,
    succeeded,
    waiting_for_input,
)

log = structlog.get_logger(__name__)

StatusListener = Callable[[StatusManifest], None]
# An orchestrator's container start is billed with its first run.
_FIRST_RUN = FirstCall()


@dataclass
class JobRun:
    """One run of a job: where it writes, when it must stop, whom it tells it is alive,
    what its calls wrote and were charged (the rest of its CPU is the orchestrator's own)."""

    store: StatusStore
    settings: Settings
    interrupted: Interrupted = never
    activity: Activity = field(default_factory=Activity)
    meter: JobMeter | None = None  # this job's own CPU, never another job's on this process
    # Where the orchestrator runs, for its own line in the ledger: a reserved machine (a
    # Modal function), or None: this computer, charged the CPU it spends.
    machine: Machine | None = None
    on_status: StatusListener | None = None
    began: float = field(default_factory=time.monotonic)  # the run's one clock
    video_key: str = ""  # the video the next call reads: the input, then the last written
    upstream: dict[StageName, dict[Artifact, str]] = field(default_factory=dict)
    index: int = 0  # the next stage's place in the job
    stages_cpu: float = 0.0
    # The poster and preview the call that wrote the last video made ({} until then).
    previews: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """How long the run has lasted."""
        return time.monotonic() - self.began

    @property
    def cancel_asked(self) -> bool:
        """Whether the job's owner asked to cancel it (as last seen)."""
        return self.store.latest.cancel_requested_at is not None

    def write(self, mutate: Mutation) -> StatusManifest:
        """Apply ``mutate`` to the status, and tell the listener."""
        status = self.store.update(mutate)
        if self.on_status is not None:
            self.on_status(status)
        return status

    def stop_if_told(self, where: str) -> None:
        """StageInterrupted once the run is told to stop (``where``: at what point)."""
        stop_if(self.interrupted, where)

    def frame_boundary(self, call: Call) -> FrameBoundary:
        """What ``call`` does at each frame here: stop when told, progress, cancel, beat."""
        return FrameBoundary(
            self.write,
            self.store,
            call,
            self.interrupted,
            self.settings.progress_interval_s,
            self.activity.beat,
        )

    # -- the calls -------------------------------------------------------------------

    def start(
        self,
        manifest: JobManifest,
        input_key: str,
        *,
        estimated_cost_usd: float | None,
        plan_s: dict[StageName, float],
    ) -> StatusManifest:
        """The job runs (again) on ``input_key``: its stages listed, with their estimates."""
        self.video_key = input_key
        return self.write(
            lambda s: running(
                s,
                input_key=input_key,
                stages=manifest.stages.requested(),
                estimated_cost_usd=estimated_cost_usd,
                notify=manifest.notify,
                plan_s=plan_s,
            )
        )

    def call_for(
        self, group: Sequence[StageName], manifest: JobManifest, shares: Sequence[ProgressShare]
    ) -> Call:
        """The next call: the stages of ``group``, reading what the earlier calls wrote."""
        total = len(shares)
        requests = []
        for offset, name in enumerate(group):
            index = self.index + offset
            requests.append(
                StageRequest(
                    user_id=self.store.latest.user_id,
                    job_id=self.store.latest.job_id,
                    stage=name,
                    video_key=self.video_key,
                    params=manifest.stages.params_for(name),
                    final=index == total - 1,
                    upstream=dict(self.upstream),
                    share=shares[index],
                    fence=self.store.fence,
                )
            )
        return Call(tuple(requests))

    def record(self, call: Call, results: Sequence[StageResult]) -> None:
        """``call`` is done: what its stages wrote feeds the next call."""
        self.index += len(call.requests)
        for name, result in zip(call.stages, results, strict=True):
            self.upstream[name] = result.outputs
            if Artifact.VIDEO in result.outputs:
                self.video_key = result.outputs[Artifact.VIDEO]
                self.previews = dict(result.previews)
            elif result.previews:  # a reused last call without video (detection) kept them
                self.previews = dict(result.previews)

    @property
    def outputs(self) -> dict[str, str]:
        """The status's ``outputs``: every finished stage's artifacts by ``stage.artifact``."""
        return {
            f"{stage.value}.{name}": key
            for stage, out in self.upstream.items()
            for name, key in out.items()
        }

    # -- how it ends -------------------------------------------------------------------

    def succeed(self, previews: dict[str, str]) -> StatusManifest:
        """Every call is done: the job succeeds with its outputs (and ``previews``), unless
        a cancel was asked for before this write (decided on the status as written: a
        conflict re-reads it), which cancels it keeping what the stages wrote."""
        charge = self._charge()
        outputs, video_key = self.outputs, self.video_key

        def finish(s: StatusManifest) -> StatusManifest:
            if s.cancel_requested_at is not None:
                return cancelled(charge(s), outputs=outputs, duration_s=self.seconds)
            return succeeded(
                charge(s), outputs=outputs | previews, output_key=video_key, duration_s=self.seconds
            )

        final = self.write(finish)
        event = "job_succeeded" if final.state is JobState.SUCCEEDED else "job_cancelled"
        log.info(event, output_key=final.output_key, duration_s=final.duration_s)
        return final

    def cancel(self) -> StatusManifest:
        """End the job as its owner asked, keeping what the finished stages wrote."""
        charge, outputs = self._charge(), self.outputs
        final = self.write(lambda s: cancelled(charge(s), outputs=outputs, duration_s=self.seconds))
        log.info("job_cancelled", kept=sorted(final.outputs))
        return final

    def fail(
        self, exc: Exception, stage: StageName | None = None, *, charged: bool = True
    ) -> StatusManifest:
        """The job failed (in ``stage``): the error, worded for its uploader; the whole
        text in the operator's log. ``charged``: with the orchestrator's own use."""
        kind = exc.kind if isinstance(exc, ReelpipeError) else ErrorKind.INTERNAL
        message = str(exc) if isinstance(exc, ReelpipeError) else f"{type(exc).__name__}: {exc}"
        message = bounded_message(redact(message, self.settings.secret_values()))
        # The uploader reads the status: no worker paths, URLs or host name there.
        error = ErrorInfo(kind=kind, message=public_message(message), stage=stage)
        charge = self._charge() if charged else _no_charge
        final = self.write(
            lambda s: failed(charge(s), error=error, stage=stage, duration_s=self.seconds)
        )
        log.error(
            "job_failed", kind=kind.value, stage=stage.value if stage else None, message=message
        )
        return final

    def wait_for_input(self, missing: InputNotFound) -> StatusManifest:
        """The clip is not there yet: wait (the scan retries) until the wait runs out."""
        now = utc_now()
        since = self.store.latest.waiting_since or now
        waited = (now - since).total_seconds()
        limit = self.settings.leases.input_wait_s
        if waited >= limit:
            gone = InputNotFound(f"{missing} (waited {limit:.0f} s for it; REELPIPE_INPUT_WAIT_S)")
            return self.fail(gone, charged=False)
        log.info("waiting_for_input", waited_s=round(waited, 1))
        return self.write(lambda s: waiting_for_input(s, since=since, missing=str(missing)))

    def _charge(self) -> Mutation:
        """The orchestrator's own line in the ledger for this run: on a reserved machine
        its cores and memory for the run's whole wall time (and its container's start, on
        its first run); here the CPU it spent that no stage was charged."""
        machine = self.machine
        if machine is None:
            spent = self.meter.seconds() if self.meter is not None else 0.0
            cpu, memory = max(0.0, spent - self.stages_cpu), 0.0
        else:
            billed = self.seconds + _FIRST_RUN.startup_s()
            cpu, memory = machine.cpu * billed, machine.memory_mb / 1024 * billed
        cost = self.settings.costs.rates.price(None, 0.0, cpu, memory)
        return lambda s: orchestrator_charged(
            s, cpu_seconds=cpu, memory_gib_seconds=memory, cost_usd=cost
        )


def _no_charge(status: StatusManifest) -> StatusManifest:
    return status

"""The orchestrator: validate a claimed job, run its calls in order, report.

It is the one place that catches broadly: a JobError is recorded and the job
stops; a RetryableError is retried with backoff up to a limit, then recorded
(:mod:`pipeline.jobs.call_runner`); anything else is recorded as an internal error.
The input is never touched. Status is written at every transition and, while a call
runs, at most once per ``progress_interval_s`` from its own progress (best effort: a
progress write that fails is logged and tried again at the next frame). What a run
holds and how it ends is :class:`pipeline.jobs.job_run.JobRun`'s.

The job's owner may cancel it (``cancel_requested_at`` in the status, seen when a status
write meets the newer version): the running call stops at the next frame boundary and
the job ends ``cancelled``, keeping the outputs of the stages that finished.

Two things stop a run without failing it, at the next frame boundary: the
worker is shutting down (``interrupted()``), or its lease was taken over
(:class:`~pipeline.core.errors.LeaseLost`, raised by the fenced status store). In
both cases the orchestrator returns without writing anything more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from pipeline.core.errors import (
    ClipNotUploaded,
    InputNotFound,
    InvalidManifest,
    JobCancelled,
    JobError,
    LeaseLost,
    LimitExceeded,
    ReelpipeError,
    RetryableError,
    StageInterrupted,
    bounded_message,
)
from pipeline.core.public_text import public_message
from pipeline.core.settings import Settings
from pipeline.core.usage import metered
from pipeline.jobs.call_runner import CallRunner
from pipeline.jobs.claim import ClaimedJob, claimed_manifest, finish_claim
from pipeline.jobs.fusion import fusion_groups
from pipeline.jobs.job_run import JobRun, StatusListener
from pipeline.jobs.lease import Activity
from pipeline.jobs.plan import plan_job, stage_seconds
from pipeline.jobs.reel_job import ReelJob
from pipeline.jobs.segments import probe_stage_input
from pipeline.manifests.job import JobManifest, StageName, parse_job_manifest
from pipeline.manifests.reel import is_reel_document, parse_reel_manifest
from pipeline.manifests.status import JobKind, JobState, Progress, StatusManifest, utc_now
from pipeline.runners.base import Runner
from pipeline.runners.frame_boundary import Interrupted, never
from pipeline.stages.base import Call, ProgressShare, StageResult, progress_shares
from pipeline.stages.table import Machine
from pipeline.status.transitions import (
    as_reel,
    progressed,
    running,
    waiting_for_input,
    warned,
)
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

__all__ = ["Orchestrator", "StatusListener"]


class Orchestrator:
    """Runs claimed jobs through a runner, keeping their status manifest."""

    def __init__(
        self,
        bucket: Bucket,
        runner: Runner,
        settings: Settings,
        *,
        on_status: StatusListener | None = None,
        max_stage_attempts: int = 3,
        retry_backoff_s: float = 1.0,
        machine: Machine | None = None,
    ) -> None:
        self.bucket = bucket
        self.runner = runner
        self.settings = settings
        # Where this orchestrator runs, for its own line in the ledger: a reserved machine
        # (a Modal function), or None: this computer, charged the CPU it spends.
        self.machine = machine
        self.on_status = on_status
        self.calls = CallRunner(
            bucket,
            settings,
            runner,
            max_attempts=max_stage_attempts,
            retry_backoff_s=retry_backoff_s,
        )

    def run(
        self,
        job: ClaimedJob,
        *,
        interrupted: Interrupted = never,
        activity: Activity | None = None,
    ) -> StatusManifest:
        """Run ``job`` until it finishes, waits for its clip, or ``interrupted()`` says stop.

        Calls already done with the same cache key are reused, so a resumed
        job redoes only what was not finished. ``activity`` hears every sign of
        life (frames, writes), for the lease keeper's stall limit.
        """
        with structlog.contextvars.bound_contextvars(job_id=job.job_id, user_id=job.user_id):
            try:
                with metered() as meter:
                    run = self._job_run(job, interrupted, activity or Activity())
                    run.meter = meter
                    return self._run(job, run)
            except StageInterrupted as exc:
                log.info("job_interrupted", reason=str(exc))
            except LeaseLost as exc:
                log.warning("job_fenced_off", reason=str(exc))
            return job.status.latest

    def abandon(self, job: ClaimedJob, error: RetryableError) -> StatusManifest:
        """Fail a job that killed or crashed its workers too often (``error`` says which)."""
        return self._job_run(job, never, Activity()).fail(error, charged=False)

    def _job_run(self, job: ClaimedJob, interrupted: Interrupted, activity: Activity) -> JobRun:
        return JobRun(
            job.status,
            self.settings,
            interrupted,
            activity,
            machine=self.machine,
            on_status=self.on_status,
        )

    def _run(self, job: ClaimedJob, run: JobRun) -> StatusManifest:
        """The claim finished, the manifest read and planned, then one call after another."""
        finish_claim(self.bucket, job)
        try:
            body = claimed_manifest(
                self.bucket, job, conditional_delete=self.settings.storage.uses_conditional_delete
            )
            if is_reel_document(body):
                return self._run_reel(run, body)
            manifest = parse_job_manifest(body, max_bytes=self.settings.security.max_manifest_bytes)
            input_key = self._resolve_input(job.user_id, manifest)
            estimated, shares, planned = self._plan(manifest, input_key)
        except InputNotFound as exc:
            return run.wait_for_input(exc)
        except (JobError, RetryableError) as exc:
            return run.fail(exc)
        run.start(manifest, input_key, estimated_cost_usd=estimated, plan_s=planned)
        stages = manifest.stages.requested()
        last: Call | None = None
        for group in fusion_groups(stages, self.settings, machine=self.runner.machine):
            run.stop_if_told(f"before stage {group[0].value}")
            if run.cancel_asked:
                return run.cancel()
            call = last = run.call_for(group, manifest, shares)
            try:
                run.record(call, self.calls.run(run, call))
            except (StageInterrupted, LeaseLost):
                raise
            except JobCancelled as exc:
                log.info("job_cancelled", stage=call.label, at=str(exc))
                return run.cancel()
            except ReelpipeError as exc:
                return run.fail(exc, _blamed(exc, group))
            except Exception as exc:
                log.exception("stage_crashed", stage=call.label)
                return run.fail(exc, group[0])
        if run.cancel_asked:  # asked before the job was done
            return run.cancel()
        if run.previews or last is None:
            return run.succeed(run.previews)
        try:
            previews = self._previews(run, last)
        except JobCancelled:
            return run.cancel()
        return run.succeed(previews)

    # -- steps ------------------------------------------------------------------

    def _run_reel(self, run: JobRun, body: bytes) -> StatusManifest:
        """One pass of a reel (:mod:`pipeline.jobs.reel_job`): its clips' jobs submitted
        or looked at, the reel assembled by a call of its own once they are all done.
        While they are being made the reel stays running, handed back, and the scan looks
        again; while a clip is not uploaded, it waits for input (the clip's own job says
        when that wait has run out, and the reel then fails naming it)."""
        store = run.store
        waited_since = store.latest.waiting_since  # the running state below clears it
        waiting = store.latest.state is JobState.WAITING_FOR_INPUT
        try:
            reel = parse_reel_manifest(
                body, max_bytes=self.settings.security.max_manifest_bytes
            ).reel
            first = reel.clips[0].input_key or ""

            def start() -> None:
                """The reel's run begins, said once (a reel waiting for a clip says so only
                once that wait is over: not running for a moment on every scan)."""
                latest = store.latest
                if latest.state is not JobState.RUNNING:
                    run.write(
                        lambda s: as_reel(
                            running(s, input_key=first, stages=[], estimated_cost_usd=None)
                        )
                    )
                elif latest.kind is not JobKind.REEL:  # a reel running since before kinds
                    run.write(as_reel)

            def assemble(call: Call) -> StageResult:
                start()
                return self.calls.assemble(run, call)

            if not waiting:
                start()
            epoch = store.fence.epoch if store.fence else store.latest.runs.epoch
            reel_job = ReelJob(self.bucket, store.latest, assemble, fence=store.fence)
            made = reel_job.run(reel, epoch, run.cancel_asked)
        except ClipNotUploaded as exc:
            missing = str(exc)
            log.info("reel_waiting_for_input", reason=missing)
            since = waited_since or utc_now()
            return run.write(lambda s: waiting_for_input(s, since=since, missing=missing))
        except InputNotFound as exc:
            log.info("reel_waiting", reason=str(exc))
            start()  # its clips are all uploaded: being made
            progress = Progress(percent=store.latest.progress.percent, message=str(exc))
            return run.write(lambda s: progressed(s, progress))
        except JobCancelled as exc:
            log.info("reel_cancelled", at=str(exc))
            return run.cancel()
        except (JobError, RetryableError) as exc:
            return run.fail(exc)
        if made.cancelled:
            return run.cancel()
        assert made.output_key is not None
        run.video_key = made.output_key
        return run.succeed(made.outputs)

    def _resolve_input(self, user_id: str, manifest: JobManifest) -> str:
        if manifest.input_key is None:
            raise InvalidManifest("input_key: required (the clip, relative to the user folder)")
        key = self.bucket.layout.user_key(user_id, manifest.input_key)
        if not self.bucket.exists(key):
            raise InputNotFound(
                f"input_key {manifest.input_key!r}: no such clip at {key!r}; upload it first"
            )
        return key

    def _plan(
        self, manifest: JobManifest, input_key: str
    ) -> tuple[float | None, list[ProgressShare], dict[StageName, float]]:
        """The planner's cost for this job, each stage's share of the progress bar and its
        estimated time where the job runs (recorded as the stage's ``plan_s``); no cost,
        equal shares and no estimates when the clip cannot be probed yet (the stage that
        reads it reports why). A clip over a limit raises LimitExceeded: the job fails
        before its first stage."""
        count = len(manifest.stages.requested())
        try:
            info = probe_stage_input(self.bucket, input_key, self.settings)
            cost = plan_job(manifest.stages, info, self.settings).total_cost_usd
            seconds = stage_seconds(
                manifest.stages, info, self.settings, machine=self.runner.machine
            )
        except LimitExceeded:
            raise  # the job is refused before any stage starts
        except (JobError, RetryableError) as exc:
            log.info("cost_estimate_skipped", reason=bounded_message(str(exc), 300))
            return None, progress_shares([1.0] * count), {}
        planned = dict(zip(manifest.stages.requested(), seconds, strict=True))
        return round(cost, 6), progress_shares(seconds), planned

    def _previews(self, run: JobRun, last: Call) -> dict[str, str]:
        """The output's poster and preview (``outputs.poster``, ``outputs.preview``) when
        the call that wrote it could not cut them: a previews call of the stored output,
        on its own machine, retried alone and charged to the last stage's line. None, with
        a warning in the status, when they cannot be made: the output itself is good."""
        overlay = run.store.latest.stages.get(StageName.OVERLAY)
        details = overlay.details if overlay is not None else {}
        shown: dict[str, Any] = {
            k: details[k] for k in ("best_frame", "preview_window") if k in details
        }
        try:
            made = self.calls.cut(run, last.cutting(run.video_key, shown))
        except (StageInterrupted, LeaseLost, JobCancelled):
            raise
        except Exception as exc:
            if not isinstance(exc, ReelpipeError):
                log.exception("previews_crashed")
            message = bounded_message(f"no poster or preview: {exc}", 300)
            log.warning("previews_failed", error=message)
            run.write(lambda s: warned(s, public_message(message)))
            return {}
        return dict(made.previews)


def _blamed(exc: ReelpipeError, group: Sequence[StageName]) -> StageName:
    """The stage of ``group`` an error came from: the one it names, else the first."""
    named = {n.value: n for n in group}
    return named.get(exc.stage or "", group[0])

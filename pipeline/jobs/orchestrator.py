"""The orchestrator: validate a claimed job, run its stages in order, report.

It is the one place that catches broadly: a JobError is recorded and the job
stops; a RetryableError is retried with backoff up to a limit, then recorded;
anything else is recorded as an internal error. The input is never touched.
Status is written at every transition and, while a stage runs, at most once
per ``progress_interval_s`` from the stage's own progress (best effort: a
progress write that fails is logged and tried again at the next frame).

The job's owner may cancel it (``cancel_requested_at`` in the status, seen when a status
write meets the newer version): the running stage stops at the next frame boundary and
the job ends ``cancelled``, keeping the outputs of the stages that finished.

Two things stop a run without failing it, at the next frame boundary: the
worker is shutting down (``interrupted()``), or its lease was taken over
(:class:`~pipeline.core.errors.LeaseLost`, raised by the fenced status store). In
both cases the orchestrator returns without writing anything more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from pipeline.core.errors import (
    ErrorKind,
    InputNotFound,
    InvalidManifest,
    JobCancelled,
    JobError,
    LeaseLost,
    LimitExceeded,
    ObjectNotFound,
    ReelpipeError,
    RetryableError,
    StageInterrupted,
    bounded_message,
    redact,
)
from pipeline.core.keys import job_id_for
from pipeline.core.public_text import public_message
from pipeline.core.settings import Settings
from pipeline.core.usage import FirstCall, JobMeter, metered
from pipeline.jobs.cache import stage_cache_key
from pipeline.jobs.claim import ClaimedJob, write_request_pointer
from pipeline.jobs.fusion import fusion_groups
from pipeline.jobs.inbox import retire_inbox_copy
from pipeline.jobs.lease import Activity
from pipeline.jobs.plan import plan_job, stage_seconds
from pipeline.jobs.previews import PreviewTarget, publish_previews
from pipeline.jobs.reel_job import ReelJob
from pipeline.jobs.segments import plan_stage_segments, probe_stage_input, run_segmented
from pipeline.manifests.job import JobManifest, StageName, parse_job_manifest
from pipeline.manifests.reel import is_reel_document, parse_reel_manifest
from pipeline.manifests.status import (
    ErrorInfo,
    JobState,
    Progress,
    StageState,
    StatusManifest,
    utc_now,
)
from pipeline.runners.base import Runner
from pipeline.runners.frame_boundary import FrameBoundary, stop_if
from pipeline.stages.base import (
    AnyStageRequest,
    Call,
    ProgressShare,
    StageRequest,
    StageResult,
    progress_shares,
)
from pipeline.stages.registry import stage_for
from pipeline.stages.table import Artifact, Machine
from pipeline.status.store import Mutation, StatusStore
from pipeline.status.transitions import (
    cancelled,
    failed,
    orchestrator_charged,
    overall_progress,
    progressed,
    running,
    stage_finished,
    stage_started,
    succeeded,
    waiting_for_input,
    warned,
)
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

T = TypeVar("T")
# An orchestrator's container start is billed with its first run.
_FIRST_RUN = FirstCall()
StatusListener = Callable[[StatusManifest], None]
Interrupted = Callable[[], bool]


def _never() -> bool:
    return False


@dataclass
class _Run:
    """One run of a job: where it writes, when it must stop, whom it tells it is alive,
    and what its stages were charged (the rest of its CPU is the orchestrator's own)."""

    store: StatusStore
    interrupted: Interrupted
    activity: Activity
    meter: JobMeter  # this job's own CPU, never another job's on this process
    began: float = field(default_factory=time.monotonic)
    stages_cpu: float = 0.0
    # The poster and preview the call that wrote the last video made ({} until then).
    previews: dict[str, str] = field(default_factory=dict)


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
        self.max_stage_attempts = max_stage_attempts
        self.retry_backoff_s = retry_backoff_s

    def run(
        self,
        job: ClaimedJob,
        *,
        interrupted: Interrupted = _never,
        activity: Activity | None = None,
    ) -> StatusManifest:
        """Run ``job`` until it finishes, waits for its clip, or ``interrupted()`` says stop.

        Stages already done with the same cache key are reused, so a resumed
        job redoes only what was not finished. ``activity`` hears every sign of
        life (frames, writes), for the lease keeper's stall limit.
        """
        with structlog.contextvars.bound_contextvars(job_id=job.job_id, user_id=job.user_id):
            try:
                with metered() as meter:
                    return self._run(job, interrupted, activity or Activity(), meter)
            except StageInterrupted as exc:
                log.info("job_interrupted", reason=str(exc))
            except LeaseLost as exc:
                log.warning("job_fenced_off", reason=str(exc))
            return job.status.latest

    def _run(
        self, job: ClaimedJob, interrupted: Interrupted, activity: Activity, meter: JobMeter
    ) -> StatusManifest:
        store = job.status
        started = time.monotonic()
        fence = store.fence
        run = _Run(store, interrupted, activity, meter)
        if store.latest.runs.epoch <= 1:
            write_request_pointer(self.bucket, store.latest)  # its claimer may have died first
        try:
            body = self._manifest_body(job)
            if is_reel_document(body):
                return self._run_reel(store, body, started, run)
            manifest = parse_job_manifest(body, max_bytes=self.settings.max_manifest_bytes)
            input_key = self._resolve_input(job.user_id, manifest)
        except InputNotFound as exc:
            return self._wait_or_fail(store, exc, started)
        except (JobError, RetryableError) as exc:
            return self._fail(store, exc, None, started, run)
        stages = manifest.stages.requested()
        try:
            estimated, shares, planned = self._plan(manifest, input_key)
        except LimitExceeded as exc:
            return self._fail(store, exc, None, started, run)
        self._write(
            store,
            lambda s: running(
                s,
                input_key=input_key,
                stages=stages,
                estimated_cost_usd=estimated,
                notify=manifest.notify,
                plan_s=planned,
            ),
        )
        video_key = input_key
        upstream: dict[StageName, dict[Artifact, str]] = {}
        index = 0
        for group in fusion_groups(stages, self.settings, machine=self.runner.machine):
            stop_if(interrupted, f"before stage {group[0].value}")
            if store.latest.cancel_requested_at is not None:
                return self._cancel(store, upstream, started, run)
            requests = []
            for name in group:
                requests.append(
                    StageRequest(
                        user_id=job.user_id,
                        job_id=job.job_id,
                        stage=name,
                        video_key=video_key,
                        params=manifest.stages.params_for(name),
                        final=index == len(stages) - 1,
                        upstream=dict(upstream),
                        share=shares[index],
                        fence=fence,
                    )
                )
                index += 1
            call = Call(tuple(requests))
            try:
                results = self._run_or_reuse(run, call)
            except (StageInterrupted, LeaseLost):
                raise
            except JobCancelled as exc:
                log.info("job_cancelled", stage="+".join(n.value for n in group), at=str(exc))
                return self._cancel(store, upstream, started, run)
            except ReelpipeError as exc:
                return self._fail(store, exc, _blamed(exc, group), started, run)
            except Exception as exc:
                log.exception("stage_crashed", stage="+".join(n.value for n in group))
                return self._fail(store, exc, group[0], started, run)
            for name, result in zip(group, results, strict=True):
                upstream[name] = result.outputs
                if Artifact.VIDEO in result.outputs:
                    video_key = result.outputs[Artifact.VIDEO]
                    run.previews = dict(result.previews)
        if store.latest.cancel_requested_at is not None:  # asked before the job was done
            return self._cancel(store, upstream, started, run)
        return self._succeed(store, upstream, video_key, started, run)

    def abandon(self, job: ClaimedJob, error: RetryableError) -> StatusManifest:
        """Fail a job that killed or crashed its workers too often (``error`` says which)."""
        return self._fail(job.status, error, None, time.monotonic())

    # -- steps ------------------------------------------------------------------

    def _manifest_body(self, job: ClaimedJob) -> bytes:
        try:
            body, _ = self.bucket.get_bytes(job.manifest_key)
        except ObjectNotFound:
            body = self._recover_manifest(job)
        return body

    def _run_reel(
        self, store: StatusStore, body: bytes, started: float, run: _Run
    ) -> StatusManifest:
        """One pass of a reel (:mod:`pipeline.jobs.reel_job`): its clips' jobs submitted
        or looked at, the reel assembled once they are all done. While they are being
        made the reel stays running, handed back, and the scan looks again."""
        try:
            reel = parse_reel_manifest(body, max_bytes=self.settings.max_manifest_bytes).reel
            latest = store.latest
            if latest.state is not JobState.RUNNING:
                first = reel.clips[0].input_key or ""
                self._write(
                    store,
                    lambda s: running(s, input_key=first, stages=[], estimated_cost_usd=None),
                )
            epoch = store.fence.epoch if store.fence else latest.runs.epoch
            asked = store.latest.cancel_requested_at is not None
            made = ReelJob(self.bucket, self.settings, store.latest).run(reel, epoch, asked)
        except InputNotFound as exc:
            log.info("reel_waiting", reason=str(exc))
            progress = Progress(percent=store.latest.progress.percent, message=str(exc))
            return self._write(store, lambda s: progressed(s, progress))
        except (JobError, RetryableError) as exc:
            return self._fail(store, exc, None, started, run)
        seconds = time.monotonic() - started
        if made.cancelled:
            return self._write(store, lambda s: cancelled(s, outputs={}, duration_s=seconds))
        assert made.output_key is not None
        key = made.output_key
        final = self._write(
            store,
            lambda s: succeeded(s, outputs=made.outputs, output_key=key, duration_s=seconds),
        )
        log.info("reel_succeeded", output_key=key)
        return final

    def _recover_manifest(self, job: ClaimedJob) -> bytes:
        """The claimer died before copying the manifest: finish its copy from the inbox."""
        request_key = job.status.latest.request_key
        missing = InvalidManifest(
            "the manifest was replaced or removed while it was being claimed; upload it again"
        )
        if request_key is None:
            raise missing
        try:
            body, etag = self.bucket.get_bytes(request_key)
        except ObjectNotFound:
            raise missing from None
        if job_id_for(request_key, etag) != job.job_id:
            raise missing
        self.bucket.put_bytes(job.manifest_key, body, content_type="application/json")
        retire_inbox_copy(
            self.bucket, request_key, etag, conditional=self.settings.uses_conditional_delete
        )
        return body

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

    def _cache_key(self, requests: Sequence[AnyStageRequest]) -> str:
        """The cache key of running ``requests`` (one stage, or a fused group) on their
        input: for a group, each stage's key takes the previous one's as its input, so the
        last covers the whole group."""
        head = requests[0]
        input_etag = self.bucket.head(head.video_key).etag
        side_etags = {
            f"{stage.value}.{label}": self.bucket.head(k).etag
            for stage, outputs in head.upstream.items()
            for label, k in outputs.items()
            if k != head.video_key and label != Artifact.VIDEO
        }
        key = ""
        for request in requests:
            s = self.settings
            profile = s.final_encode if request.final else s.intermediate_encode
            version = stage_for(request.stage).version
            etag = f"fused:{key}" if key else input_etag
            key = stage_cache_key(request, version, etag, profile, side_etags, s.video_encoder)
        return key

    def _reusable(self, store: StatusStore, name: StageName, key: str) -> StageResult | None:
        """Stage ``name``'s recorded result when it ran with ``key`` and its outputs remain."""
        done = store.latest.stages.get(name)
        if (
            done is None
            or done.state is not StageState.SUCCEEDED
            or done.cache_key != key
            or not all(self.bucket.exists(k) for k in done.outputs.values())
        ):
            return None
        return StageResult(
            outputs={Artifact(k): v for k, v in done.outputs.items()},
            frames=done.frames or 0,
            backend=done.backend or "",
        )

    def _run_or_reuse(self, run: _Run, call: Call) -> list[StageResult]:
        """A call's results: reused when every stage of it ran with the call's key."""
        key = self._cache_key(call.requests)
        reused = [self._reusable(run.store, r.stage, key) for r in call.requests]
        if all(r is not None for r in reused):
            last = call.last
            log.info("stage_cached", stage=last.stage.value, cache_key=key, fused=len(reused))
            self._write(
                run.store,
                lambda s: progressed(s, overall_progress(last.share, 1.0, last.stage)),
            )
            return [r for r in reused if r is not None]
        with structlog.contextvars.bound_contextvars(stage=call.label):
            return self._with_retries(run, lambda: self._attempt(run, call, key))

    def _with_retries(self, run: _Run, attempt_once: Callable[[], T]) -> T:
        """``attempt_once()``, retried with backoff on a RetryableError."""
        # One retry owner: the platform when it retries calls itself, else this loop.
        tries = 1 if self.runner.retries_calls else self.max_stage_attempts
        for attempt in range(1, tries + 1):
            try:
                return attempt_once()
            except RetryableError as exc:
                if attempt == tries:
                    raise
                delay = self.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "stage_retry",
                    attempt=attempt,
                    delay_s=delay,
                    error=bounded_message(str(exc)),
                )
                _sleep_unless(run.interrupted, delay)
                stop_if(run.interrupted, "between stage attempts")
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, run: _Run, call: Call, cache_key: str) -> list[StageResult]:
        """One attempt at ``call``: its stages' records start, advance and finish together,
        each with its own seconds of the call; a splittable stage runs as segments."""
        store, activity = run.store, run.activity
        segments = []
        if len(call.requests) == 1:
            segments = plan_stage_segments(
                self.bucket, self.settings, call.head, capacity=self.runner.max_workers
            )
        counted = not self.runner.retries_calls  # else the call's body counts its attempts
        for name in call.stages:
            self._write(
                store, stage_started(name, call.share, workers=len(segments) or 1, counted=counted)
            )
        activity.beat()
        boundary = FrameBoundary(
            lambda m: self._write(store, m),
            store,
            call,
            run.interrupted,
            self.settings.progress_interval_s,
            activity.beat,
        )
        began = time.monotonic()
        if segments:
            results = [
                run_segmented(
                    self.bucket, self.settings, self.runner, call.head, segments, boundary
                )
            ]
        else:
            results = self.runner.run(call, boundary)
        wall = time.monotonic() - began
        stop_if(run.interrupted, f"after {call.label}, before recording it")
        for request, result, seconds in zip(
            call.requests, results, _durations(wall, results), strict=True
        ):
            fps = result.frames / seconds if seconds > 0 else None
            log.info(
                "stage_finished",
                stage=request.stage.value,
                call=call.label,
                duration_s=round(seconds, 3),
                frames=result.frames,
                fps=round(fps, 1) if fps else None,
                backend=result.backend,
            )
            run.stages_cpu += result.cpu_seconds
            self._write(
                store,
                stage_finished(
                    request.stage, call.share, result, seconds, cache_key, self.settings.rates
                ),
            )
        return results

    def _wait_or_fail(
        self, store: StatusStore, missing: InputNotFound, started: float
    ) -> StatusManifest:
        """The clip is not there yet: wait (the scan retries) until the wait runs out."""
        now = utc_now()
        since = store.latest.waiting_since or now
        waited = (now - since).total_seconds()
        if waited >= self.settings.input_wait_s:
            limit = self.settings.input_wait_s
            return self._fail(
                store,
                InputNotFound(f"{missing} (waited {limit:.0f} s for it; REELPIPE_INPUT_WAIT_S)"),
                None,
                started,
            )
        log.info("waiting_for_input", waited_s=round(waited, 1))
        return self._write(
            store,
            lambda s: waiting_for_input(s, since=since, missing=str(missing)),
        )

    def _succeed(
        self,
        store: StatusStore,
        upstream: dict[StageName, dict[Artifact, str]],
        video_key: str,
        started: float,
        run: _Run,
    ) -> StatusManifest:
        outputs = _outputs(upstream) | (run.previews or self._previews(store, video_key))
        charge = self._orchestrator_charge(run)

        def finish(s: StatusManifest) -> StatusManifest:
            # Decided on the status as written (a conflict re-reads it): a cancel asked for
            # before this write wins, one after it finds the job done.
            seconds = time.monotonic() - started
            if s.cancel_requested_at is not None:
                return cancelled(charge(s), outputs=_outputs(upstream), duration_s=seconds)
            return succeeded(charge(s), outputs=outputs, output_key=video_key, duration_s=seconds)

        final = self._write(store, finish)
        event = "job_succeeded" if final.state is JobState.SUCCEEDED else "job_cancelled"
        log.info(event, output_key=final.output_key, duration_s=final.duration_s)
        return final

    def _previews(self, store: StatusStore, video_key: str) -> dict[str, str]:
        """The output's poster and preview (``outputs.poster``, ``outputs.preview``); none,
        with a warning in the status, when they cannot be made: the output itself is good."""
        latest = store.latest
        overlay = latest.stages.get(StageName.OVERLAY)
        details = overlay.details if overlay is not None else {}
        best, window = details.get("best_frame"), details.get("preview_window")
        fence = store.fence
        target = PreviewTarget(latest.user_id, latest.job_id, fence.epoch if fence else None)
        try:
            made = publish_previews(
                self.bucket,
                self.settings,
                target,
                video_key,
                best_frame=best if isinstance(best, int) else None,
                window=(window[0], window[1]) if isinstance(window, list) else None,
            )
        except (JobError, RetryableError) as exc:
            message = bounded_message(f"no poster or preview: {exc}", 300)
            log.warning("previews_failed", error=message)
            self._write(store, lambda s: warned(s, public_message(message)))
            return {}
        return {"poster": made.poster_key, "preview": made.preview_key}

    def _cancel(
        self,
        store: StatusStore,
        upstream: dict[StageName, dict[Artifact, str]],
        started: float,
        run: _Run,
    ) -> StatusManifest:
        """End the job as its owner asked, keeping what the finished stages wrote."""
        charge = self._orchestrator_charge(run)
        final = self._write(
            store,
            lambda s: cancelled(
                charge(s), outputs=_outputs(upstream), duration_s=time.monotonic() - started
            ),
        )
        log.info("job_cancelled", kept=sorted(final.outputs))
        return final

    def _fail(
        self,
        store: StatusStore,
        exc: Exception,
        stage: StageName | None,
        started: float,
        run: _Run | None = None,
    ) -> StatusManifest:
        kind = exc.kind if isinstance(exc, ReelpipeError) else ErrorKind.INTERNAL
        message = str(exc) if isinstance(exc, ReelpipeError) else f"{type(exc).__name__}: {exc}"
        message = bounded_message(redact(message, self.settings.secret_values()))
        # The uploader reads the status: no worker paths, URLs or host name there; the
        # operator's log line below keeps the whole text.
        error = ErrorInfo(kind=kind, message=public_message(message), stage=stage)
        charge = self._orchestrator_charge(run) if run is not None else _no_charge
        final = self._write(
            store,
            lambda s: failed(
                charge(s), error=error, stage=stage, duration_s=time.monotonic() - started
            ),
        )
        log.error(
            "job_failed", kind=kind.value, stage=stage.value if stage else None, message=message
        )
        return final

    def _orchestrator_charge(self, run: _Run) -> Mutation:
        """The orchestrator's own line in the ledger for ``run``: on a reserved machine its
        cores and memory for the run's whole wall time (and its container's start, on its
        first run); here the CPU it spent that no stage was charged."""
        machine = self.machine
        if machine is None:
            cpu = max(0.0, run.meter.seconds() - run.stages_cpu)
            memory = 0.0
        else:
            billed = time.monotonic() - run.began + _FIRST_RUN.startup_s()
            cpu, memory = machine.cpu * billed, machine.memory_mb / 1024 * billed
        cost = self.settings.rates.price(None, 0.0, cpu, memory)
        return lambda s: orchestrator_charged(
            s, cpu_seconds=cpu, memory_gib_seconds=memory, cost_usd=cost
        )

    def _write(self, store: StatusStore, mutate: Mutation) -> StatusManifest:
        status = store.update(mutate)
        if self.on_status is not None:
            self.on_status(status)
        return status


def _outputs(upstream: dict[StageName, dict[Artifact, str]]) -> dict[str, str]:
    """The status's ``outputs``: every finished stage's artifacts by ``stage.artifact``."""
    return {
        f"{stage.value}.{name}": key for stage, out in upstream.items() for name, key in out.items()
    }


def _no_charge(status: StatusManifest) -> StatusManifest:
    return status


def _blamed(exc: ReelpipeError, group: Sequence[StageName]) -> StageName:
    """The stage of ``group`` an error came from: the one it names, else the first."""
    named = {n.value: n for n in group}
    return named.get(exc.stage or "", group[0])


def _sleep_unless(interrupted: Interrupted, seconds: float) -> None:
    """Sleep ``seconds`` unless told to stop first."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not interrupted():
        time.sleep(min(left, 0.1))


def _durations(wall: float, results: Sequence[StageResult]) -> list[float]:
    """Each stage's seconds of a call of ``wall`` seconds: in proportion to its own
    seconds of the pass (the whole call for a call of one)."""
    busy = sum(r.busy_s or 0.0 for r in results)
    if busy <= 0:
        return [wall / len(results)] * len(results)
    return [wall * (r.busy_s or 0.0) / busy for r in results]

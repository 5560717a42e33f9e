"""Running one call of a job: reused by its cache key, else attempted (retried), its
stages' records kept.

A call whose every stage already ran with the call's cache key, outputs still there,
is not run again (a resumed or reprocessed job redoes only what changed); when it ends
the job, the poster and preview its first run made are kept too. Otherwise
each attempt writes its stages' start, runs the call through the runner (a splittable
stage as parallel segments, :mod:`pipeline.jobs.segments`) with the run's frame
boundary, and writes each stage's result and its seconds of the call. A RetryableError
is retried with backoff here, unless the platform retries calls itself (Modal): one
retry owner. A previews call (the job's poster and preview cut from its stored output)
is retried the same way and charged to the stage it serves; a reel's assembly call too,
on its own line.

Example::

    calls = CallRunner(bucket, settings, runner)
    results = calls.run(job_run, call)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog

from pipeline import PIPELINE_VERSION
from pipeline.core.errors import RetryableError, bounded_message
from pipeline.core.settings import Settings
from pipeline.jobs.cache import assembly_cache_key, stage_cache_key
from pipeline.jobs.job_run import JobRun
from pipeline.jobs.segments import plan_stage_segments, run_segmented
from pipeline.manifests.job import StageName
from pipeline.manifests.status import StageState
from pipeline.runners.base import Runner
from pipeline.runners.frame_boundary import Interrupted
from pipeline.stages.base import Call, Segment, StageResult
from pipeline.stages.registry import stage_for
from pipeline.stages.table import Artifact
from pipeline.status.transitions import (
    overall_progress,
    progressed,
    stage_finished,
    stage_started,
    step_charged,
    step_recorded,
)
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

T = TypeVar("T")


class CallRunner:
    """Runs a job's calls through ``runner``, reusing and retrying them."""

    def __init__(
        self,
        bucket: Bucket,
        settings: Settings,
        runner: Runner,
        *,
        max_attempts: int = 3,
        retry_backoff_s: float = 1.0,
    ) -> None:
        self.bucket = bucket
        self.settings = settings
        self.runner = runner
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s

    def run(self, run: JobRun, call: Call) -> list[StageResult]:
        """``call``'s results: reused when every stage of it ran with the call's key."""
        key = self.cache_key(call)
        reused = [self._reusable(run, name, key) for name in call.stages]
        if all(r is not None for r in reused):
            last = call.last
            log.info("stage_cached", stage=last.stage.value, cache_key=key, fused=len(reused))
            run.write(lambda s: progressed(s, overall_progress(last.share, 1.0, last.stage)))
            return self._kept_previews(run, call, [r for r in reused if r is not None])
        with structlog.contextvars.bound_contextvars(stage=call.label):
            segments = self._with_retries(run, lambda: self._segments(call))
            if segments:  # its parts and its join are retried each on their own
                return self._attempt(run, call, key, segments)
            return self._with_retries(run, lambda: self._attempt(run, call, key, []))

    def cut(self, run: JobRun, call: Call) -> StageResult:
        """A previews call (:meth:`~pipeline.stages.base.Call.cutting`) run after its stage
        was recorded: on its own machine, retried alone as a join is, never an attempt at
        its stage, its use charged to that stage's line in the ledger."""

        def alive(fraction: float) -> None:  # its stage's record is finished: no progress
            run.stop_if_told("while cutting the previews")
            run.activity.beat()

        with structlog.contextvars.bound_contextvars(stage=call.label, step="previews"):
            [result] = self._with_retries(run, lambda: self.runner.run(call, alive))
        run.stages_cpu += result.cpu_seconds
        run.write(step_charged(call.head.stage, result, self.settings.costs.rates))
        return result

    def assemble(self, run: JobRun, call: Call) -> StageResult:
        """A reel's assembly call (:meth:`~pipeline.stages.base.Call.assembling`): reused
        when the reel's last assembly had the same key and its files remain, else on its
        own machine, retried alone, its progress the reel's bar, its use the reel's own
        line in the ledger (``steps.assembly``)."""
        key = self.assembly_key(call)
        reused = self._reusable_step(run, call.label, key)
        if reused is not None:
            log.info("step_cached", step=call.label, cache_key=key)
            return reused
        boundary = run.frame_boundary(call)
        began = time.monotonic()
        with structlog.contextvars.bound_contextvars(step=call.label):
            [result] = self._with_retries(run, lambda: self.runner.run(call, boundary))
        seconds = time.monotonic() - began
        run.stop_if_told(f"after {call.label}, before recording it")
        run.stages_cpu += result.cpu_seconds
        rates = self.settings.costs.rates
        run.write(step_recorded(call.label, result, seconds, key, rates))
        return result

    def assembly_key(self, call: Call) -> str:
        """The cache key of an assembly call: its reel block, the ETags of its clips'
        outputs, the final encode and the pipeline's version."""
        assert call.assembly is not None
        outputs = [str(clip.get("output_key") or "") for clip in call.assembly.clips]
        etags = [self.bucket.head(key).etag if key else "" for key in outputs]
        profile = self.settings.final_encode
        return assembly_cache_key(call.assembly.reel, etags, profile, PIPELINE_VERSION)

    def _reusable_step(self, run: JobRun, name: str, key: str) -> StageResult | None:
        """Step ``name``'s recorded result when it ran with ``key`` and its files remain
        (a reel resumed after its assembly, or run again with nothing changed)."""
        done = run.store.latest.steps.get(name)
        if done is None or done.cache_key != key or "reel.output" not in done.outputs:
            return None
        if not all(self.bucket.exists(k) for k in done.outputs.values()):
            return None
        outputs = dict(done.outputs)
        return StageResult(
            outputs={Artifact.VIDEO: outputs["reel.output"]},
            frames=0,
            backend="cached",
            details={"outputs": outputs},
        )

    def cache_key(self, call: Call) -> str:
        """The cache key of running ``call`` on its input: for a fused call, each stage's
        key takes the previous one's as its input, so the last covers the whole call."""
        head = call.head
        input_etag = self.bucket.head(head.video_key).etag
        side_etags = {
            f"{stage.value}.{label}": self.bucket.head(k).etag
            for stage, outputs in head.upstream.items()
            for label, k in outputs.items()
            if k != head.video_key and label != Artifact.VIDEO
        }
        key = ""
        for request in call.requests:
            s = self.settings
            profile = s.final_encode if request.final else s.intermediate_encode
            version = stage_for(request.stage).version
            etag = f"fused:{key}" if key else input_etag
            key = stage_cache_key(request, version, etag, profile, side_etags, s.video_encoder)
        return key

    def _reusable(self, run: JobRun, name: StageName, key: str) -> StageResult | None:
        """Stage ``name``'s recorded result when it ran with ``key`` and its outputs remain."""
        done = run.store.latest.stages.get(name)
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

    def _kept_previews(
        self, run: JobRun, call: Call, results: list[StageResult]
    ) -> list[StageResult]:
        """A reused call that ends the job keeps the poster and preview the job's status
        names, while they are still there: its output is the one they were cut from (the
        cache key covers everything before it), so no previews call cuts them again."""
        outputs = run.store.latest.outputs
        kept: dict[str, str] = {k: outputs[k] for k in ("poster", "preview") if k in outputs}
        if not call.last.final or len(kept) < 2:
            return results
        if not all(self.bucket.exists(key) for key in kept.values()):
            return results
        return [*results[:-1], dataclasses.replace(results[-1], previews=kept)]

    def _with_retries(self, run: JobRun, attempt_once: Callable[[], T]) -> T:
        """``attempt_once()``, retried with backoff on a RetryableError."""
        # One retry owner: the platform when it retries calls itself, else this loop.
        tries = 1 if self.runner.retries_calls else self.max_attempts
        for attempt in range(1, tries + 1):
            try:
                return attempt_once()
            except RetryableError as exc:
                if attempt == tries:
                    raise
                delay = self.retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "stage_retry", attempt=attempt, delay_s=delay, error=bounded_message(str(exc))
                )
                _sleep_unless(run.interrupted, delay)
                run.stop_if_told("between stage attempts")
        raise AssertionError("unreachable")  # pragma: no cover

    def _segments(self, call: Call) -> list[Segment]:
        """The segments a call of one splittable stage runs as; none for the others."""
        if len(call.requests) > 1:
            return []
        return plan_stage_segments(
            self.bucket, self.settings, call.head, capacity=self.runner.max_workers
        )

    def _attempt(
        self, run: JobRun, call: Call, cache_key: str, segments: list[Segment]
    ) -> list[StageResult]:
        """One attempt at ``call``: its stages' records start, advance and finish together,
        each with its own seconds of the call. Split into ``segments``, the parts are
        attempted (and their records started) again on a transient failure, then the join."""
        counted = not self.runner.retries_calls  # else the call's body counts its attempts

        def start() -> None:
            for name in call.stages:
                run.write(stage_started(name, call.share, len(segments) or 1, counted=counted))
            run.activity.beat()

        boundary = run.frame_boundary(call)
        began = time.monotonic()
        if segments:
            joined = run_segmented(
                self.bucket,
                self.runner,
                call,
                segments,
                boundary,
                retried=lambda attempt: self._with_retries(run, attempt),
                started=start,
            )
            results = [joined]
        else:
            start()
            results = self.runner.run(call, boundary)
        wall = time.monotonic() - began
        run.stop_if_told(f"after {call.label}, before recording it")
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
            rates = self.settings.costs.rates
            run.write(stage_finished(request.stage, call.share, result, seconds, cache_key, rates))
        return results


def _durations(wall: float, results: Sequence[StageResult]) -> list[float]:
    """Each stage's seconds of a call of ``wall`` seconds: in proportion to its own
    seconds of the pass (the whole call for a call of one)."""
    busy = sum(r.busy_s or 0.0 for r in results)
    if busy <= 0:
        return [wall / len(results)] * len(results)
    return [wall * (r.busy_s or 0.0) / busy for r in results]


def _sleep_unless(interrupted: Interrupted, seconds: float) -> None:
    """Sleep ``seconds`` unless told to stop first."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not interrupted():
        time.sleep(min(left, 0.1))

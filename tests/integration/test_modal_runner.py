"""The Modal runner, with a registry standing in for ``Function.from_name`` that runs
the very body the Modal functions run, in-process: same outputs and status as local."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import EncoderCrashed, ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.orchestrator import Orchestrator
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.runners.base import Runner
from pipeline.runners.local import LocalRunner
from pipeline.runners.modal import STAGE_FUNCTIONS, ModalRunner
from pipeline.runners.stage_call import execute_call
from pipeline.stages import registry
from pipeline.stages.base import Stage, StageContext, StageRequest, StageResult
from pipeline.stages.table import STAGE_TABLE, STEPS
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere, psnr, read_frame


class InProcessCall:
    """``.remote(...)`` over JSON, as a call to another container would be, retried as
    Modal retries a function that raises (``retries`` more times)."""

    def __init__(self, body: Callable[[dict[str, Any]], dict[str, Any]], retries: int) -> None:
        self.body = body
        self.retries = retries
        self.calls = 0
        self.mapped = 0
        self.answers: list[dict[str, Any]] = []  # what each call answered

    def remote(self, wire: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        for attempt in range(self.retries + 1):
            try:
                result = self.body(json.loads(json.dumps(wire)))
                break
            except Exception:
                if attempt == self.retries:
                    raise
        answer: dict[str, Any] = json.loads(json.dumps(result))
        self.answers.append(answer)
        return answer

    def map(self, wires: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One call per input, as Modal's ``.map`` (results in input order)."""
        self.mapped += len(wires)
        return [self.remote(wire) for wire in wires]


class InProcessFunctions:
    """A registry of the app's call functions (the stages' and the join's), executing
    ``execute_call`` here on the machine each reserves."""

    def __init__(self, bucket: Bucket, settings: Settings) -> None:
        self.calls: dict[str, InProcessCall] = {}
        self.bucket, self.settings = bucket, settings

    def lookup(self, name: str) -> InProcessCall:
        if name in STEPS:
            machine, retries = STEPS[name].machine, STEPS[name].retries
        else:
            assert name in STAGE_FUNCTIONS.values(), name
            (spec,) = [s for s in STAGE_TABLE.values() if s.modal_function == name]
            machine, retries = spec.machine_for(self.settings.video_encoder), spec.retries
        return self.calls.setdefault(
            name,
            InProcessCall(
                lambda wire: execute_call(wire, self.bucket, self.settings, machine=machine),
                retries,
            ),
        )


def submit(bucket: Bucket, clip: Path, manifest: dict[str, Any], request_id: str) -> ClaimedJob:
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **manifest}, request_id=request_id)
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    return job


def test_modal_runner_matches_the_local_runner(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Same stages, frames, states and pictures; progress written by the remote side."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    manifest = job_manifest(
        framing={"trim": {"start_s": 0.5, "end_s": 1.5}},
        overlay={"highlight": {"boxes": truth.keyframes(0, every=15)}},
    )
    local = Worker(bucket, settings, LocalRunner(bucket, settings)).run(
        submit(bucket, clip, manifest, "local")
    )
    functions = InProcessFunctions(bucket, settings)
    remote = Worker(bucket, settings, ModalRunner(functions)).run(
        submit(bucket, clip, manifest, "remote")
    )
    assert isinstance(local, StatusManifest) and isinstance(remote, StatusManifest)
    assert local.state is remote.state is JobState.SUCCEEDED
    # Framing and overlay share a CPU machine on Modal too: one call, the framing function's.
    assert {k: v.calls for k, v in functions.calls.items()} == {"process_framing": 1}
    for name in (StageName.FRAMING, StageName.OVERLAY):
        a, b = local.stages[name], remote.stages[name]
        assert (a.state, a.frames, a.backend, a.cache_key) == (
            b.state,
            b.frames,
            b.backend,
            b.cache_key,
        )
        assert b.progress == 100.0
        # Billed as the function reserves it: 4 cores and 4 GiB for its share of the call.
        assert b.gpu_seconds == 0.0 and b.cpu_seconds > 0
        assert b.memory_gib_seconds == pytest.approx(b.cpu_seconds, abs=0.01)
    assert remote.cost_usd > 0 and remote.cpu_seconds > 0
    assert remote.progress.percent == 100.0
    videos = []
    for status, name in ((local, "local.mp4"), (remote, "remote.mp4")):
        assert status.output_key is not None
        videos.append(bucket.download_file(status.output_key, tmp_path / name))
    facts = [assert_playable_everywhere(v) for v in videos]
    assert facts[0].video == facts[1].video
    assert psnr(read_frame(videos[0], 15, 320, 180), read_frame(videos[1], 15, 320, 180)) > 40


def test_remote_job_errors_come_back_as_job_errors(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A crop that does not fit fails the job with the same kind, not a retry storm."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = job_manifest(framing={"crop": {"x": 300, "y": 0, "width": 100, "height": 100}})
    functions = InProcessFunctions(bucket, settings)
    status = Worker(bucket, settings, ModalRunner(functions)).run(
        submit(bucket, clip, manifest, "bad")
    )
    assert status is not None and status.state is JobState.FAILED
    assert status.error is not None and status.error.kind is ErrorKind.INVALID_PARAMS
    assert "320x180" in status.error.message
    assert functions.calls["process_framing"].calls == 1


class FlakyStages:
    """Stands in for the registry's ``stage_for``: the first ``failures`` runs of any stage
    crash the encoder (a transient error), the others run the real stage."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0

    def __call__(self, name: StageName) -> Stage:
        real = registry.stage_for(name)
        outer = self

        class Flaky:
            def run(self, ctx: StageContext, request: StageRequest) -> StageResult:
                outer.runs += 1
                if outer.runs <= outer.failures:
                    raise EncoderCrashed("x264 died")
                return real.run(ctx, request)

        flaky = Flaky()
        flaky.name, flaky.version = real.name, real.version  # type: ignore[attr-defined]
        return flaky  # type: ignore[return-value]


@pytest.mark.parametrize("platform", ["local", "modal"])
@pytest.mark.parametrize(("failures", "state"), [(2, JobState.SUCCEEDED), (3, JobState.FAILED)])
def test_one_retry_owner_runs_a_stage_at_most_three_times_and_counts_each(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    failures: int,
    state: JobState,
) -> None:
    """Locally the orchestrator retries; on Modal only the platform does (the orchestrator
    calls once). Either way at most 3 runs, and ``attempts`` counts every one."""
    stages = FlakyStages(failures)
    monkeypatch.setattr("pipeline.stages.execute.stage_for", stages)
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}), f"{platform}-{failures}")
    runner: Runner = (
        LocalRunner(bucket, settings)
        if platform == "local"
        else ModalRunner(InProcessFunctions(bucket, settings))
    )
    status = Orchestrator(bucket, runner, settings, retry_backoff_s=0.01).run(job)
    assert status.state is state
    assert stages.runs == 3
    assert status.stages[StageName.FRAMING].attempts == 3


def test_the_ledger_prices_every_stage_and_the_orchestrator(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Run as on Modal (stage functions and the orchestrator on their reserved machines):
    the job's cost is its stages' plus the orchestrator's half core and 1 GiB for the
    whole run, all from the one rates table."""
    from pipeline.stages.table import COORDINATOR

    clip, truth = make_clip(tmp_path, duration_s=1.0)
    manifest = job_manifest(
        framing={}, overlay={"highlight": {"boxes": truth.keyframes(0, every=15)}}
    )
    functions = InProcessFunctions(bucket, settings)
    status = Worker(bucket, settings, ModalRunner(functions), machine=COORDINATOR).run(
        submit(bucket, clip, manifest, "ledger")
    )
    assert isinstance(status, StatusManifest) and status.state is JobState.SUCCEEDED
    stages = list(status.stages.values())
    rates = settings.costs.rates
    for record in stages:  # 4 reserved cores and 4 GiB: core-s and GiB-s match
        assert record.cost_usd == pytest.approx(
            rates.price(None, 0.0, record.cpu_seconds, record.memory_gib_seconds), abs=1e-6
        )
    own_cpu = status.cpu_seconds - sum(r.cpu_seconds for r in stages)
    own_memory = status.memory_gib_seconds - sum(r.memory_gib_seconds for r in stages)
    assert status.duration_s is not None
    assert own_cpu == pytest.approx(0.5 * own_memory, abs=0.01)  # 0.5 core per GiB
    assert own_memory >= 0.9 * status.duration_s  # billed for the whole run (and its start)
    assert status.cost_usd == pytest.approx(
        sum(r.cost_usd for r in stages) + rates.price(None, 0.0, own_cpu, own_memory), abs=1e-5
    )

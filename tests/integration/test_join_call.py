"""The join of a split stage's parts is a call of its own: on its sized machine (the
stage table's JOIN), charged to its stage's line in the ledger, retried alone (the
parts are not run again) by the one retry owner, never counted as a stage attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.core.errors import EncoderCrashed, ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.orchestrator import Orchestrator
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState
from pipeline.media import join as media_join
from pipeline.runners.base import Runner
from pipeline.runners.local import LocalRunner
from pipeline.runners.modal import ModalRunner
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.stages.table import JOIN
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.integration.test_modal_runner import InProcessFunctions, submit
from tests.media_checks import assert_playable_everywhere


class CrashingJoins:
    """Stands in for the join's ffmpeg step: the first ``failures`` joins crash (a
    transient error), the others join for real."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        if self.runs <= self.failures:
            raise EncoderCrashed("the join's ffmpeg died")
        return media_join.join_parts(*args, **kwargs)


class CountingRunner(LocalRunner):
    """The local runner, counting the calls it is handed."""

    def __init__(self, bucket: Bucket, settings: Settings) -> None:
        super().__init__(bucket, settings)
        self.maps = 0
        self.joins = 0

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        self.joins += call.join is not None
        return super().run(call, progress)

    def map(self, calls: Any, progress: ProgressFn) -> list[list[StageResult]]:
        self.maps += 1
        return super().map(calls, progress)


def overlay_manifest(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    return clip, job_manifest(overlay={"highlight": {"boxes": truth.keyframes(0, every=15)}})


def test_the_join_runs_on_its_own_machine_and_is_charged_to_its_stage(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """As on Modal: the parts on the overlay's function (by ``.map``), the join in one call
    of ``join_segments`` billed as its 2 cores and 2 GiB; the overlay's line is the parts'
    use plus the join's, and the job's poster and preview come from the join."""
    clip, manifest = overlay_manifest(tmp_path)
    functions = InProcessFunctions(bucket, settings)
    split = settings.replace(segment_workers=2)
    job = submit(bucket, clip, manifest, "join-ledger")
    status = Orchestrator(bucket, ModalRunner(functions), split).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    assert functions.calls["render_overlay"].mapped == 2
    joins = functions.calls[JOIN.modal_function]
    assert joins.calls == 1
    (joined,) = joins.answers[0]["results"]
    billed = joins.answers[0]["seconds"] + joined["startup_s"]
    assert joined["cpu_seconds"] == pytest.approx(JOIN.machine.cpu * billed, abs=0.01)
    assert joined["memory_gib_seconds"] == pytest.approx(
        JOIN.machine.memory_mb / 1024 * billed, abs=0.01
    )
    parts = [a["results"][0] for a in functions.calls["render_overlay"].answers]
    overlay = status.stages[StageName.OVERLAY]
    for use in ("cpu_seconds", "memory_gib_seconds"):
        expected = sum(p[use] for p in parts) + joined[use]
        assert getattr(overlay, use) == pytest.approx(expected, abs=0.005), use
    assert overlay.cost_usd == pytest.approx(
        settings.costs.rates.price(None, 0.0, overlay.cpu_seconds, overlay.memory_gib_seconds),
        abs=1e-6,
    )
    assert {"poster", "preview"} <= set(status.outputs)
    assert status.outputs["poster"] == joined["previews"]["poster"]
    assert status.output_key is not None
    facts = assert_playable_everywhere(bucket.download_file(status.output_key, tmp_path / "o.mp4"))
    assert facts.video.frames == 60 and facts.audio is not None


@pytest.mark.parametrize("platform", ["local", "modal"])
@pytest.mark.parametrize(("failures", "state"), [(2, JobState.SUCCEEDED), (3, JobState.FAILED)])
def test_a_failed_join_is_retried_alone_at_most_three_times(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    failures: int,
    state: JobState,
) -> None:
    """A transient failure of the join retries the join, not the parts: locally the
    orchestrator retries it, on Modal only the platform (the join's ``retries``). At most
    3 joins, and none of them counts as an attempt at the stage."""
    joins = CrashingJoins(failures)
    monkeypatch.setattr("pipeline.stages.execute.join_parts", joins)
    clip, manifest = overlay_manifest(tmp_path)
    split = settings.replace(segment_workers=2)
    job = submit(bucket, clip, manifest, f"join-retry-{platform}-{failures}")
    functions = InProcessFunctions(bucket, split)
    local = CountingRunner(bucket, split)
    runner: Runner = local if platform == "local" else ModalRunner(functions)
    status = Orchestrator(bucket, runner, split, retry_backoff_s=0.01).run(job)
    assert status.state is state, status.error
    assert joins.runs == 3 if failures == 3 else joins.runs == failures + 1
    # The join's runs are no attempts at the stage (on Modal a split stage's parts count
    # none either: no part is the whole stage).
    assert status.stages[StageName.OVERLAY].attempts == (1 if platform == "local" else 0)
    if platform == "local":
        assert local.maps == 1 and local.joins == min(failures + 1, 3)
    else:
        assert functions.calls["render_overlay"].mapped == 2
        assert functions.calls[JOIN.modal_function].calls == 1
    if state is JobState.FAILED:
        assert status.error is not None and status.error.kind is ErrorKind.ENCODER_FAILED
        assert status.error.stage is StageName.OVERLAY

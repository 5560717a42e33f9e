"""A job whose last call could not cut its poster and preview (a detect-only job writes
no video; an upscale after the overlay has the overlay's choice of frame in an earlier
call) gets them from a previews call: on its sized machine (the stage table's PREVIEWS,
on Modal its own function), charged to the last stage's line in the ledger, retried
alone, never an attempt at the stage. A previews call that fails leaves the job
succeeded, its output kept, with a warning; a reused last call keeps the previews its
first run cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from pipeline.core.errors import EncoderCrashed, InvalidMedia, ReelpipeError
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.lease import new_lease
from pipeline.jobs.orchestrator import Orchestrator
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, LeaseKind, StatusManifest
from pipeline.media.previews import cut_previews
from pipeline.runners.base import Runner
from pipeline.runners.local import LocalRunner
from pipeline.runners.modal import STAGE_FUNCTIONS, ModalRunner
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.stages.table import PREVIEWS
from pipeline.status.transitions import requeued
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.integration.test_modal_runner import InProcessFunctions, submit
from tests.media_checks import assert_playable_everywhere, psnr, read_frame

DETECT_ONLY = job_manifest(detect={"backend": "motion"})


class RecordingRunner(LocalRunner):
    """The local runner, keeping what each call it ran answered (previews calls apart)."""

    def __init__(self, bucket: Bucket, settings: Settings) -> None:
        super().__init__(bucket, settings)
        self.stage_results: list[StageResult] = []
        self.cut_results: list[StageResult] = []

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        results = super().run(call, progress)
        (self.cut_results if call.cut is not None else self.stage_results).extend(results)
        return results


class FailingCuts:
    """Stands in for the cut of a poster and preview: the first ``failures`` cuts raise
    ``error``, the others cut for real."""

    def __init__(self, failures: int, error: ReelpipeError) -> None:
        self.failures, self.error = failures, error
        self.runs = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        if self.runs <= self.failures:
            raise self.error
        return cut_previews(*args, **kwargs)


def assert_real_previews(
    bucket: Bucket, status: StatusManifest, tmp_path: Path, size: tuple[int, int]
) -> Path:
    """The status names a poster and a preview of this run, and they are a JPEG of
    ``size`` and a short silent H.264 MP4 (decoded with PyAV); the poster's path."""
    assert {"poster", "preview"} <= set(status.outputs), sorted(status.outputs)
    assert "/previews/" in status.outputs["poster"] and "/previews/" in status.outputs["preview"]
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    preview = bucket.download_file(status.outputs["preview"], tmp_path / "preview.mp4")
    assert poster.read_bytes()[:2] == b"\xff\xd8"
    with av.open(str(poster)) as image:
        assert image.streams.video[0].codec_context.name == "mjpeg"
        frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == size
    with av.open(str(preview)) as video:
        assert video.format.name.startswith("mov,mp4")
        assert video.streams.video[0].codec_context.name == "h264"
        assert not video.streams.audio
        frames = sum(1 for _ in video.decode(video=0))
    assert 0 < frames <= 62
    assert_playable_everywhere(preview)
    return poster


def test_a_detect_only_job_gets_its_previews_from_a_call_on_its_own_machine(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """As on Modal: detection writes no video, so the previews are cut from the input by
    one call of ``cut_previews``, billed as its 1 core and 1 GiB and added to the detect
    stage's line; the stage's attempts are the detection's alone."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    functions = InProcessFunctions(bucket, settings)
    job = submit(bucket, clip, DETECT_ONLY, "detect-previews-modal")
    status = Orchestrator(bucket, ModalRunner(functions), settings).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    assert_real_previews(bucket, status, tmp_path, (truth.width, truth.height))
    cuts = functions.calls[PREVIEWS.modal_function]
    assert cuts.calls == 1
    (cut,) = cuts.answers[0]["results"]
    assert status.outputs["poster"] == cut["previews"]["poster"]
    billed = cuts.answers[0]["seconds"] + cut["startup_s"]
    assert cut["cpu_seconds"] == pytest.approx(PREVIEWS.machine.cpu * billed, abs=0.01)
    assert cut["memory_gib_seconds"] == pytest.approx(
        PREVIEWS.machine.memory_mb / 1024 * billed, abs=0.01
    )
    (detected,) = functions.calls[STAGE_FUNCTIONS[StageName.DETECT]].answers[0]["results"]
    line = status.stages[StageName.DETECT]
    for use in ("cpu_seconds", "memory_gib_seconds", "gpu_seconds"):
        expected = detected[use] + cut[use]
        assert getattr(line, use) == pytest.approx(expected, abs=0.005), use
    rates = settings.costs.rates
    priced = rates.price(
        detected["gpu"], detected["gpu_seconds"], detected["cpu_seconds"],
        detected["memory_gib_seconds"],
    ) + rates.price(None, 0.0, cut["cpu_seconds"], cut["memory_gib_seconds"])  # fmt: skip
    assert line.cost_usd == pytest.approx(priced, abs=1e-5)
    assert status.cost_usd >= line.cost_usd
    assert status.warnings == []


def test_locally_the_previews_call_is_charged_to_the_last_stage(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The local runner runs the same call: the detect line is the detection's measured
    CPU plus the cut's, and the job's poster is the cut's."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    runner = RecordingRunner(bucket, settings)
    status = Orchestrator(bucket, runner, settings).run(
        submit(bucket, clip, DETECT_ONLY, "detect-previews-local")
    )
    assert status.state is JobState.SUCCEEDED, status.error
    assert_real_previews(bucket, status, tmp_path, (truth.width, truth.height))
    (detected,), (cut,) = runner.stage_results, runner.cut_results
    assert cut.cpu_seconds > 0 and status.outputs["poster"] == cut.previews["poster"]
    line = status.stages[StageName.DETECT]
    assert line.cpu_seconds == pytest.approx(detected.cpu_seconds + cut.cpu_seconds, abs=0.005)
    assert line.attempts == 1


def test_an_upscale_after_the_overlay_gets_a_poster_where_the_overlay_chose(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """On Modal the overlay and the upscale are two calls: the upscale's cannot place the
    poster, so the previews call cuts the stored 2x output at the overlay's best frame."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    boxes = [[f, 100.0, 50.0, 20.0 + f / 2, 40.0 + f] for f in (0, 30, 59)]  # growing
    manifest = job_manifest(
        overlay={"highlight": {"boxes": boxes}}, upscale={"backend": "classical", "scale": 2}
    )
    functions = InProcessFunctions(bucket, settings)
    job = submit(bucket, clip, manifest, "upscale-previews")
    status = Orchestrator(bucket, ModalRunner(functions), settings).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    assert functions.calls[PREVIEWS.modal_function].calls == 1
    width, height = truth.width * 2, truth.height * 2
    poster = assert_real_previews(bucket, status, tmp_path, (width, height))
    best = status.stages[StageName.OVERLAY].details["best_frame"]
    assert best >= 40, best  # where the box is largest
    assert status.output_key is not None
    output = bucket.download_file(status.output_key, tmp_path / "out.mp4")
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    at_best = read_frame(output, best, width, height).mean(axis=2)
    at_start = read_frame(output, 0, width, height).mean(axis=2)
    assert psnr(picture, at_best) > psnr(picture, at_start) + 3


@pytest.mark.parametrize("platform", ["local", "modal"])
@pytest.mark.parametrize(
    ("failures", "error", "runs"),
    [
        (2, EncoderCrashed("the preview's encoder died"), 3),
        (3, EncoderCrashed("the preview's encoder died"), 3),
        (1, InvalidMedia("no frame 30 to make a poster of"), 1),
    ],
    ids=["transient-then-cut", "transient-every-time", "not-cuttable"],
)
def test_a_failing_previews_call_is_retried_alone_then_only_warns(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    failures: int,
    error: ReelpipeError,
    runs: int,
) -> None:
    """A transient failure retries the cut, not the detection (locally the orchestrator,
    on Modal only the platform), at most 3 cuts; a job whose previews cannot be made
    still succeeds with its outputs and a warning, and no poster or preview."""
    cuts = FailingCuts(failures, error)
    monkeypatch.setattr("pipeline.stages.execute.cut_previews", cuts)
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    functions = InProcessFunctions(bucket, settings)
    local = RecordingRunner(bucket, settings)
    runner: Runner = local if platform == "local" else ModalRunner(functions)
    job = submit(bucket, clip, DETECT_ONLY, f"cut-{platform}-{failures}-{error.kind.value}")
    status = Orchestrator(bucket, runner, settings, retry_backoff_s=0.01).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    assert cuts.runs == runs
    assert "detect.detections" in status.outputs
    assert status.stages[StageName.DETECT].attempts == 1
    if platform == "local":
        assert len(local.stage_results) == 1
    else:
        assert functions.calls[STAGE_FUNCTIONS[StageName.DETECT]].calls == 1
        assert functions.calls[PREVIEWS.modal_function].calls == 1
    if failures < runs:
        assert_real_previews(bucket, status, tmp_path, (truth.width, truth.height))
        assert status.warnings == []
        return
    assert "poster" not in status.outputs and "preview" not in status.outputs
    assert len(status.warnings) == 1 and "no poster or preview" in status.warnings[0]


@pytest.mark.parametrize("deleted", [False, True], ids=["kept", "poster-deleted"])
def test_a_reused_last_call_keeps_its_previews_unless_they_are_gone(
    bucket: Bucket, settings: Settings, tmp_path: Path, deleted: bool
) -> None:
    """Run again as the nightly reprocessing does, with nothing changed: the detection is
    reused and so are the poster and preview its first run cut (no call at all); when
    the poster is gone, one previews call cuts both again."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    first = Orchestrator(bucket, RecordingRunner(bucket, settings), settings).run(
        submit(bucket, clip, DETECT_ONLY, f"reused-{deleted}")
    )
    assert first.state is JobState.SUCCEEDED, first.error
    if deleted:
        bucket.delete(first.outputs["poster"])
    job = ClaimedJob.existing(bucket, "u", first.job_id)
    job.status.update(lambda s: requeued(s, new_lease("nightly", 60.0, LeaseKind.CLAIM)))
    runner = RecordingRunner(bucket, settings)
    again = Orchestrator(bucket, runner, settings).run(job)
    assert again.state is JobState.SUCCEEDED, again.error
    assert runner.stage_results == []
    assert len(runner.cut_results) == (1 if deleted else 0)
    assert_real_previews(bucket, again, tmp_path, (truth.width, truth.height))
    if not deleted:
        assert again.outputs["poster"] == first.outputs["poster"]
        assert (
            again.stages[StageName.DETECT].cpu_seconds == first.stages[StageName.DETECT].cpu_seconds
        )

"""A reel from the inbox is assembled by a call of its own: on Modal one call of
``assemble_reel`` on its 4-core machine, billed on the reel's own ledger line; here in
process, retried on a transient failure, its progress on the reel's bar, stopped by a
cancel at a frame. Real clips, real jobs on moto S3, the reel decoded with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import EncoderCrashed, StageInterrupted
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.compose import local_worker
from pipeline.jobs.job_run import JobRun
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobKind, JobState, StatusManifest
from pipeline.media import reel_assembly
from pipeline.runners.modal import ModalRunner
from pipeline.stages.base import Assembly, Call
from pipeline.stages.table import REEL_ASSEMBLY
from pipeline.status.transitions import call_progress
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.integration.test_modal_runner import InProcessFunctions

USER = "reeler"
REAL_ASSEMBLE = reel_assembly.assemble
REAL_SUCCEED = JobRun.succeed


def _reel_request(bucket: Bucket, tmp_path: Path, request_id: str) -> None:
    """A reel of two 1.5 s clips, 1 s of each, crossfaded over 0.2 s (6 frames at 30)."""
    keys = [
        upload_clip(bucket, USER, make_clip(tmp_path, f"{n}.mp4", duration_s=1.5)[0]) for n in "ab"
    ]
    clips = [{"input_key": k, "moments": [{"start_s": 0.2, "end_s": 1.2}]} for k in keys]
    transition = {"kind": "crossfade", "duration_s": 0.2}
    manifest = {"schema_version": 1, "reel": {"clips": clips, "transition": transition}}
    submit_manifest(bucket, USER, manifest, request_id=request_id)


def _run_until_done(
    bucket: Bucket, settings: Settings, dispatch: Callable[[ClaimedJob], object], request_id: str
) -> StatusManifest:
    client = ReelpipeClient(bucket, USER)
    scanner = Scanner(bucket, settings, dispatch=dispatch)
    for _ in range(10):
        scanner.scan_once()
        status = client.status_for_request(request_id)
        if status is not None and status.state.finished:
            return status
    raise AssertionError(f"{request_id} did not finish: {status}")


def _reel_made_by(
    worker: Worker, bucket: Bucket, settings: Settings, tmp_path: Path, request_id: str
) -> StatusManifest:
    """The two-clip reel submitted as ``request_id`` and run by ``worker`` (closed after)."""
    _reel_request(bucket, tmp_path, request_id)
    try:
        return _run_until_done(bucket, settings, worker.run, request_id)
    finally:
        worker.close()


def _scan_while(scanner: Scanner, going: Callable[[], bool], passes: int = 20) -> None:
    for _ in range(passes):
        if not going():
            return
        scanner.scan_once()
    raise AssertionError(f"still going after {passes} scans")


def _assert_reel_file(bucket: Bucket, key: str, tmp_path: Path) -> None:
    """H.264 yuv420p with AAC, 30 + 30 frames less the 6 of the crossfade, its sound
    ending with its picture (within 25 ms)."""
    video = bucket.download_file(key, tmp_path / "reel.mp4")
    with av.open(str(video)) as container:
        stream, audio = container.streams.video[0], container.streams.audio[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        frames = sum(1 for _ in container.decode(video=0))
        assert audio.duration is not None and audio.time_base is not None
        audio_s = float(audio.duration * audio.time_base)
    assert frames == 30 + 30 - 6
    assert abs(audio_s - frames / 30) <= 0.025


def test_on_modal_a_reel_is_assembled_by_one_call_on_its_machine_and_billed_on_its_line(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    functions = InProcessFunctions(bucket, settings)
    worker = Worker(bucket, settings, ModalRunner(functions))
    reel = _reel_made_by(worker, bucket, settings, tmp_path, "modal-reel")
    assert reel.state is JobState.SUCCEEDED, reel.error
    assert reel.kind is JobKind.REEL and reel.stages == {}
    _assert_reel_file(bucket, reel.outputs["reel.output"], tmp_path)
    assembly = functions.calls[REEL_ASSEMBLY.modal_function]
    assert assembly.calls == 1
    (made,) = assembly.answers[0]["results"]
    billed = assembly.answers[0]["seconds"] + made["startup_s"]
    assert made["cpu_seconds"] == pytest.approx(REEL_ASSEMBLY.machine.cpu * billed, abs=0.01)
    line = reel.steps["assembly"]
    assert line.cpu_seconds == pytest.approx(made["cpu_seconds"], abs=0.001)
    assert line.memory_gib_seconds == pytest.approx(
        REEL_ASSEMBLY.machine.memory_mb / 1024 * billed, abs=0.01
    )
    assert line.duration_s >= assembly.answers[0]["seconds"]
    price = settings.costs.rates.price(None, 0.0, line.cpu_seconds, line.memory_gib_seconds)
    assert line.cost_usd == pytest.approx(price, abs=1e-6)
    assert reel.cost_usd >= line.cost_usd > 0
    assert reel.cpu_seconds >= line.cpu_seconds
    assert made["previews"]["poster"] == reel.outputs["poster"]


def test_a_transient_failure_of_the_assembly_is_retried_alone(
    bucket: Bucket, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first encode of the reel crashes (a transient error): the assembly call is run
    again, the clips' jobs are not, and the reel is made."""
    encodes: list[int] = []

    def crashing_once(*args: Any, **kwargs: Any) -> Any:
        encodes.append(1)
        if len(encodes) == 1:
            raise EncoderCrashed("ffmpeg crashed while encoding the reel")
        return REAL_ASSEMBLE(*args, **kwargs)

    monkeypatch.setattr("pipeline.jobs.reel_cut.assemble", crashing_once)
    reel = _reel_made_by(local_worker(bucket, settings), bucket, settings, tmp_path, "retried-reel")
    assert reel.state is JobState.SUCCEEDED, reel.error
    assert len(encodes) == 2
    client = ReelpipeClient(bucket, USER)
    for index in range(2):
        child = client.status_for_request(f"{reel.job_id}-clip{index}")
        assert child is not None and child.attempts == 1
    assert reel.steps["assembly"].cpu_seconds > 0
    _assert_reel_file(bucket, reel.outputs["reel.output"], tmp_path)


def test_a_cancel_during_the_assembly_stops_it_at_a_frame(
    bucket: Bucket, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner cancels while the reel is being encoded: the encode stops at its next
    progress write, the reel ends cancelled with no reel output, its clips kept."""
    client = ReelpipeClient(bucket, USER)
    seen: list[str] = []

    def cancelled_while_encoding(*args: Any, **kwargs: Any) -> Any:
        reel = client.status_for_request("cancelled-reel")
        assert reel is not None
        seen.append(reel.progress.message)
        client.cancel(reel.job_id)
        return REAL_ASSEMBLE(*args, **kwargs)

    monkeypatch.setattr("pipeline.jobs.reel_cut.assemble", cancelled_while_encoding)
    quick = settings.replace(progress_interval_s=0.0)
    reel = _reel_made_by(local_worker(bucket, quick), bucket, quick, tmp_path, "cancelled-reel")
    assert reel.state is JobState.CANCELLED
    assert "reel.output" not in reel.outputs
    assert seen and seen[0].startswith("assembling the reel")
    for index in range(2):
        child = client.status_for_request(f"{reel.job_id}-clip{index}")
        assert child is not None and child.state is JobState.SUCCEEDED


def test_a_reel_stopped_after_its_assembly_reuses_it_while_its_files_remain(
    bucket: Bucket, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reel's worker stops (a handback) after its assembly was recorded but before its
    success was written, twice: the next pass finds the assembly's key and its files and
    encodes nothing; once its reel file is gone, the pass after assembles it again."""
    encodes: list[int] = []
    stops = [1, 1]

    def counted(*args: Any, **kwargs: Any) -> Any:
        encodes.append(1)
        return REAL_ASSEMBLE(*args, **kwargs)

    def succeed_or_stop(run: JobRun, previews: dict[str, str]) -> StatusManifest:
        if run.store.latest.kind is JobKind.REEL and stops:
            stops.pop()
            raise StageInterrupted("stopping before the reel's success is written")
        return REAL_SUCCEED(run, previews)

    monkeypatch.setattr("pipeline.jobs.reel_cut.assemble", counted)
    monkeypatch.setattr(JobRun, "succeed", succeed_or_stop)
    client = ReelpipeClient(bucket, USER)
    worker = local_worker(bucket, settings)
    scanner = Scanner(bucket, settings, dispatch=worker.run)
    _reel_request(bucket, tmp_path, "stopped-reel")
    try:
        _scan_while(scanner, lambda: len(stops) == 2)
        reel = client.status_for_request("stopped-reel")
        assert reel is not None and reel.state is JobState.RUNNING and len(encodes) == 1
        made = reel.steps["assembly"].outputs["reel.output"]
        _scan_while(scanner, lambda: bool(stops))
        assert len(encodes) == 1  # the second pass reused it
        bucket.delete(made)
        final = _run_until_done(bucket, settings, worker.run, "stopped-reel")
    finally:
        worker.close()
    assert final.state is JobState.SUCCEEDED, final.error
    assert len(encodes) == 2
    assert final.output_key == final.steps["assembly"].outputs["reel.output"] != made
    _assert_reel_file(bucket, final.outputs["reel.output"], tmp_path)


def test_an_assembly_moves_the_reels_bar_and_no_stage() -> None:
    call = Call.assembling(Assembly("u", "reel-job", {"clips": []}, ()))
    status = StatusManifest(job_id="reel-job", user_id="u", manifest_key="m")
    moved = call_progress(call, 0.5)(status)
    assert moved.progress.message == "assembling the reel 50%"
    assert 5 < moved.progress.percent < 99 and moved.stages == {}
    with pytest.raises(ValueError, match="no stage"):
        Call((), assembly=Assembly("u", "j", {}, ()), cut=None, join=None).head  # noqa: B018

"""Orchestrator: claimed jobs run to a terminal state with an honest status manifest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import EncoderCrashed, ErrorKind, TransitionRefused
from pipeline.core.keys import DEFAULT_LAYOUT
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.lease import new_lease
from pipeline.jobs.orchestrator import Orchestrator
from pipeline.jobs.plan import stage_seconds
from pipeline.manifests.job import StageName, parse_job_manifest
from pipeline.manifests.status import JobState, LeaseKind, StageState, StatusManifest
from pipeline.media.probe import probe
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.status.transitions import requeued
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


def submit(bucket: Bucket, clip: Path, manifest: dict[str, Any]) -> ClaimedJob:
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **manifest}).inbox_key
    job = claim(bucket, inbox)
    assert job is not None
    return job


def overlay_block(truth: Any) -> dict[str, Any]:
    return {"highlight": {"boxes": truth.keyframes(0, every=15)}}


def test_a_job_runs_all_its_stages_and_reports_outputs(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """framing -> overlay: succeeded, outputs in the bucket, inbox emptied, status stored."""
    clip, truth = make_clip(tmp_path)
    job = submit(
        bucket,
        clip,
        job_manifest(
            framing={"trim": {"start_s": 0.5, "end_s": 1.5}}, overlay=overlay_block(truth)
        ),
    )
    seen: list[StatusManifest] = []
    status = Orchestrator(
        bucket, LocalRunner(bucket, settings), settings, on_status=seen.append
    ).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    assert status.progress.percent == 100.0
    assert list(status.stages) == [StageName.FRAMING, StageName.OVERLAY]
    for stage in status.stages.values():
        assert stage.state is StageState.SUCCEEDED and stage.attempts == 1
        assert stage.started_at and stage.finished_at and stage.duration_s is not None
        assert stage.frames == 30
    assert status.output_key == status.stages[StageName.OVERLAY].outputs["video"]
    assert bucket.exists(status.output_key)
    assert not list(bucket.list("inbox/"))
    assert bucket.exists(status.manifest_key)
    stored = StatusManifest.model_validate(bucket.get_json(job.status.key).data)
    assert stored == status
    percents = [s.progress.percent for s in seen]
    assert percents == sorted(percents)
    assert {s.state for s in seen} == {JobState.RUNNING, JobState.SUCCEEDED}


def test_each_upload_is_claimed_once(bucket: Bucket, tmp_path: Path) -> None:
    """A second claim of the same manifest gets nothing."""
    inbox = submit_manifest(bucket, "u", job_manifest(framing={})).inbox_key
    assert claim(bucket, inbox) is not None
    assert claim(bucket, inbox) is None


def test_a_click_on_nobody_fails_the_overlay_clearly(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """detect runs, then the overlay says the click found no player; input untouched."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    click = {"highlight": {"frame": 10, "x": 2, "y": 2}}  # the top-left corner: grass
    job = submit(bucket, clip, job_manifest(overlay=click))
    status = Orchestrator(bucket, LocalRunner(bucket, settings), settings).run(job)
    assert status.state is JobState.FAILED
    assert status.error is not None and status.error.kind is ErrorKind.INVALID_PARAMS
    assert status.error.stage is StageName.OVERLAY
    assert "no player at (2, 2) near frame 10: the nearest box is" in status.error.message
    assert status.stages[StageName.DETECT].state is StageState.SUCCEEDED
    assert status.input_key is not None
    assert bucket.get_bytes(status.input_key)[0] == clip.read_bytes()


def test_missing_clip_waits_then_fails_with_input_not_found(
    bucket: Bucket, settings: Settings
) -> None:
    """A manifest whose clip is not there waits; past the wait it fails, naming the clip."""
    inbox = submit_manifest(
        bucket, "u", {"input_key": "clips/none.mp4", **job_manifest(framing={})}
    ).inbox_key
    job = claim(bucket, inbox)
    assert job is not None
    status = Orchestrator(bucket, LocalRunner(bucket, settings), settings).run(job)
    assert status.state is JobState.WAITING_FOR_INPUT
    assert status.waiting_since is not None and status.error is None
    impatient = settings.replace(input_wait_s=0.0)
    status = Orchestrator(bucket, LocalRunner(bucket, impatient), impatient).run(job)
    assert status.state is JobState.FAILED
    assert status.error is not None and status.error.kind is ErrorKind.INPUT_NOT_FOUND
    assert "clips/none.mp4" in status.error.message and "waited" in status.error.message


def test_a_waiting_job_runs_once_its_clip_arrives(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Manifest first, clip later: the next run finds the clip and succeeds."""
    inbox = submit_manifest(
        bucket, "u", {"input_key": "clips/late.mp4", **job_manifest(framing={})}
    ).inbox_key
    job = claim(bucket, inbox)
    assert job is not None
    orchestrator = Orchestrator(bucket, LocalRunner(bucket, settings), settings)
    assert orchestrator.run(job).state is JobState.WAITING_FOR_INPUT
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    bucket.upload_file(clip, "users/u/clips/late.mp4")
    status = orchestrator.run(job)
    assert status.state is JobState.SUCCEEDED
    assert status.waiting_since is None


def test_finished_stages_are_reused_when_a_job_runs_again(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Running a job again (requeued, as the nightly run does) skips stages with the same
    cache key; outputs are untouched."""
    clip, truth = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}, overlay=overlay_block(truth)))
    orchestrator = Orchestrator(bucket, LocalRunner(bucket, settings), settings)
    first = orchestrator.run(job)
    assert first.output_key is not None
    etag = bucket.head(first.output_key).etag
    with pytest.raises(TransitionRefused):  # a finished job is not simply run again
        orchestrator.run(job)
    job.status.update(lambda s: requeued(s, new_lease("nightly", 60.0, LeaseKind.CLAIM)))
    second = orchestrator.run(job)
    assert second.state is JobState.SUCCEEDED
    for name in (StageName.FRAMING, StageName.OVERLAY):
        assert second.stages[name].attempts == 1
        assert second.stages[name].cache_key == first.stages[name].cache_key is not None
    assert second.output_key == first.output_key
    assert bucket.head(first.output_key).etag == etag
    assert second.attempts == 1  # counted again from the requeue


def test_corrupt_clip_fails_the_stage_and_keeps_the_input(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Undecodable input: failed/invalid_media on the first stage; the upload is intact."""
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    job = submit(
        bucket, bad, job_manifest(framing={}, overlay={"highlight": {"boxes": [[0, 1, 1, 4, 4]]}})
    )
    status = Orchestrator(bucket, LocalRunner(bucket, settings), settings).run(job)
    assert status.state is JobState.FAILED
    assert status.error is not None
    assert (status.error.kind, status.error.stage) == (ErrorKind.INVALID_MEDIA, StageName.FRAMING)
    assert status.stages[StageName.FRAMING].state is StageState.FAILED
    # Fused with framing, the overlay started in the same pass; it did not finish.
    assert status.stages[StageName.OVERLAY].state is StageState.PENDING
    assert status.input_key is not None
    assert bucket.get_bytes(status.input_key)[0] == bad.read_bytes()


class FlakyRunner:
    """Raises a retryable error on the first call of each stage, then runs it for real."""

    def __init__(self, inner: LocalRunner, error: Exception) -> None:
        self.inner = inner
        self.error = error
        self.failed: set[StageName] = set()
        self.max_workers = 1
        self.machine = "cpu"
        self.retries_calls = False

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        if call.head.stage not in self.failed:
            self.failed.add(call.head.stage)
            raise self.error
        return self.inner.run(call, progress)


def test_transient_errors_are_retried(bucket: Bucket, settings: Settings, tmp_path: Path) -> None:
    """An encoder crash is retried; the stage records two attempts and succeeds."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}))
    runner = FlakyRunner(LocalRunner(bucket, settings), EncoderCrashed("x264 died"))
    status = Orchestrator(bucket, runner, settings, retry_backoff_s=0.01).run(job)
    assert status.state is JobState.SUCCEEDED
    assert status.stages[StageName.FRAMING].attempts == 2


def test_unexpected_errors_are_recorded_without_secrets(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A crash is recorded as internal; a secret in its message is masked."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}))
    secret = settings.secret_values()[0]
    runner = FlakyRunner(LocalRunner(bucket, settings), RuntimeError(f"boom with {secret}"))
    status = Orchestrator(bucket, runner, settings).run(job)
    assert status.error is not None and status.error.kind is ErrorKind.INTERNAL
    assert secret not in status.error.message and "***" in status.error.message
    raw = bucket.get_bytes(DEFAULT_LAYOUT.status_key("u", job.job_id))[0].decode()
    assert secret not in raw


class SlowRunner:
    """Reports progress 40 times over ~2 s, like a stage's frame loop."""

    max_workers = 1
    machine = "cpu"
    retries_calls = False

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        for i in range(40):
            time.sleep(0.05)
            progress((i + 1) / 40)
        # As the pass that writes a job's last video does, it names its poster and preview.
        previews = {"poster": "previews/poster.jpg", "preview": "previews/preview.mp4"}
        return [
            StageResult(
                outputs={"video": call.head.video_key}, frames=40, backend="test", previews=previews
            )
        ]


def test_progress_writes_are_throttled(bucket: Bucket, settings: Settings, tmp_path: Path) -> None:
    """40 progress calls in ~2 s make at most ~1 status write a second."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}))
    writes: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].endswith("status.json"):
            writes.append(params["Key"])

    bucket.client.meta.events.register("provide-client-params.s3.PutObject", count)
    throttled = settings.replace(progress_interval_s=1.0)
    started = time.monotonic()
    status = Orchestrator(bucket, SlowRunner(), throttled).run(job)
    elapsed = time.monotonic() - started
    assert status.state is JobState.SUCCEEDED
    # running + stage started + stage finished + succeeded, plus <= 1 progress write a second
    transitions = 4
    assert transitions + 1 <= len(writes) <= transitions + 1 + int(elapsed)
    assert status.stages[StageName.FRAMING].progress == 100.0


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"schema_version": 1, "stages": {"framing": {"crop": 5}}}']
)
def test_bad_manifests_fail_with_a_message(bucket: Bucket, settings: Settings, raw: bytes) -> None:
    """Broken manifests become failed jobs with a readable message; nothing crashes."""
    inbox = submit_manifest(bucket, "u", raw).inbox_key
    job = claim(bucket, inbox)
    assert job is not None
    status = Orchestrator(bucket, LocalRunner(bucket, settings), settings).run(job)
    assert status.state is JobState.FAILED
    assert status.error is not None and status.error.kind is ErrorKind.INVALID_MANIFEST
    assert "manifest" in status.error.message


def test_client_submit_and_wait_reports_phases_in_order(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """An app submits, a worker runs the job, and wait() reports queued -> ... -> complete."""
    import threading

    from pipeline.client.app_client import Phase, ProgressUpdate, ReelpipeClient
    from pipeline.jobs.scan import Scanner
    from pipeline.jobs.worker import Worker

    clip, truth = make_clip(tmp_path, duration_s=2.0)
    client = ReelpipeClient(bucket, "u")
    submission = client.submit(clip, job_manifest(framing={}, overlay=overlay_block(truth)))
    assert client.status(submission.job_id) is None
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    thread = threading.Thread(target=Scanner(bucket, settings, worker.run).scan_once)
    thread.start()
    updates: list[ProgressUpdate] = []
    final = client.wait(submission.job_id, on_progress=updates.append, poll_s=0.05, timeout_s=120)
    thread.join()
    assert final.state is JobState.SUCCEEDED
    phases = [u.phase for u in updates]
    assert phases[0] is Phase.QUEUED and phases[-1] is Phase.COMPLETE
    order = list(Phase)
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    assert Phase.PROCESSING in phases


def test_the_bar_is_shared_by_estimated_stage_time(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """framing then a classical x2 upscale on the CPU, run as separate stages: the bar
    is shared as the planner shares their time (the upscale writes four times the
    pixels), not 50/50, when framing ends, and it never goes back. (Fused, they share
    one bar that moves as one.)"""
    settings = settings.replace(fuse=False)
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = submit(bucket, clip, job_manifest(framing={}, upscale={"backend": "classical"}))
    seen: list[StatusManifest] = []
    status = Orchestrator(
        bucket, LocalRunner(bucket, settings), settings, on_status=seen.append
    ).run(job)
    assert status.state is JobState.SUCCEEDED, status.error
    framed = next(s for s in seen if s.stages[StageName.FRAMING].state is StageState.SUCCEEDED)
    stages = parse_job_manifest(
        {
            "input_key": "clips/clip.mp4",
            **job_manifest(framing={}, upscale={"backend": "classical"}),
        }
    ).stages
    framing_s, upscale_s = stage_seconds(stages, probe(clip), settings, machine="cpu")
    expected = 3 + 95 * framing_s / (framing_s + upscale_s)
    assert framed.progress.percent == pytest.approx(expected, abs=0.2)
    assert framed.progress.percent < 3 + 95 / 2
    percents = [s.progress.percent for s in seen]
    assert percents == sorted(percents)

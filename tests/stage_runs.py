"""Run one stage, or one whole job, through the local runner against the test bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import FramingParams, OverlayParams, StageName, UpscaleParams
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest, StageResult
from pipeline.storage.bucket import Bucket

JOB_ID = "0123456789abcdef0123"
PARAMS = {
    StageName.FRAMING: FramingParams,
    StageName.OVERLAY: OverlayParams,
    StageName.UPSCALE: UpscaleParams,
}


def run_stage(
    bucket: Bucket,
    settings: Settings,
    stage: StageName,
    params: dict[str, Any],
    video_key: str,
    *,
    upstream: dict[StageName, dict[str, str]] | None = None,
    progress: list[float] | None = None,
) -> StageResult:
    """Run ``stage`` on ``video_key`` with the final encode profile."""
    request = StageRequest(
        user_id="u",
        job_id=JOB_ID,
        stage=stage,
        video_key=video_key,
        params=PARAMS[stage].model_validate(params),
        final=True,
        upstream=upstream or {},
    )
    sink = progress if progress is not None else []
    [result] = LocalRunner(bucket, settings).run(Call.of(request), sink.append)
    return result


def upload(bucket: Bucket, clip: Path, name: str = "clip.mp4") -> str:
    """Put a clip in the user's folder; returns its key."""
    key = f"users/u/clips/{name}"
    bucket.upload_file(clip, key)
    return key


def fetch(bucket: Bucket, result: StageResult, directory: Path, name: str = "out.mp4") -> Path:
    """Download a stage's video output."""
    return bucket.download_file(result.outputs["video"], directory / name)


def run_job(
    bucket: Bucket,
    settings: Settings,
    clip: Path,
    manifest: dict[str, Any],
    tag: str,
    runner: Any = None,
) -> StatusManifest:
    """Upload ``clip``, submit ``manifest``, claim and run it; it must succeed."""
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **manifest}, request_id=tag)
    job = claim(bucket, inbox.inbox_key)
    assert isinstance(job, ClaimedJob)
    status = Worker(bucket, settings, runner or LocalRunner(bucket, settings)).run(job)
    assert isinstance(status, StatusManifest)
    assert status.state is JobState.SUCCEEDED, status.error
    return status


def fetch_output(bucket: Bucket, status: StatusManifest, path: Path) -> Path:
    """Download a finished job's output video to ``path``."""
    assert status.output_key is not None
    return bucket.download_file(status.output_key, path)


def run_claimed(
    bucket: Bucket, settings: Settings, inbox_key: str, **listen: Any
) -> StatusManifest:
    """Claim ``inbox_key`` and run it on a local worker (callbacks and all), whatever the
    outcome; the worker is closed afterwards."""
    from pipeline.jobs.compose import local_worker

    job = claim(bucket, inbox_key)
    assert isinstance(job, ClaimedJob)
    worker = local_worker(bucket, settings, **listen)
    try:
        status = worker.run(job)
    finally:
        worker.close()
    assert status is not None
    return status

"""Nightly reprocess: failed and outdated jobs run again, once."""

from __future__ import annotations

from pathlib import Path

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import EncoderCrashed, ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.reprocess import reprocess
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, ProgressFn, StageResult
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


class BrokenEncoder:
    """A runner whose encoder always crashes (a bad night on the GPU fleet)."""

    max_workers = 1
    machine = "cpu"
    retries_calls = False

    def run(self, call: Call, progress: ProgressFn) -> list[StageResult]:
        raise EncoderCrashed("x264 segfaulted")


def claimed_job(bucket: Bucket, clip: Path, stages: dict[str, object]) -> ClaimedJob:
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **job_manifest(**stages)})
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    return job


def test_reprocess_twice_does_the_work_once(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A transiently failed job is re-run by the first reprocess and left alone by the second."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = claimed_job(bucket, clip, {"framing": {}})
    broken = Worker(bucket, settings, BrokenEncoder())
    broken.orchestrator.retry_backoff_s = 0.0
    failed = broken.run(job)
    assert failed is not None and failed.error is not None
    assert failed.error.kind is ErrorKind.ENCODER_FAILED

    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    dry = reprocess(bucket, worker, dry_run=True)
    assert [c.job_id for c in dry.candidates] == [job.job_id]
    assert job.status.read().state is JobState.FAILED  # a dry run changes nothing

    first = reprocess(bucket, worker)
    assert first.succeeded == [job.job_id]
    assert job.status.read().state is JobState.SUCCEEDED
    second = reprocess(bucket, worker)
    assert second.candidates == [] and second.succeeded == []


def test_outdated_jobs_rerun_reusing_cached_stages(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A job made by an older pipeline is refreshed; unchanged stages are not recomputed."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    job = claimed_job(bucket, clip, {"framing": {}})
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    done = worker.run(job)
    assert done is not None and done.state is JobState.SUCCEEDED
    output_etag = bucket.head(done.stages[StageName.FRAMING].outputs["video"]).etag
    job.status.update(lambda s: s.model_copy(update={"pipeline_version": "0.0.1"}))

    report = reprocess(bucket, worker)
    assert [c.reason for c in report.candidates] == ["made by pipeline 0.0.1"]
    refreshed = job.status.read()
    assert refreshed.state is JobState.SUCCEEDED
    assert refreshed.pipeline_version != "0.0.1"
    assert refreshed.stages[StageName.FRAMING].attempts == 1
    assert bucket.head(done.stages[StageName.FRAMING].outputs["video"]).etag == output_etag
    assert reprocess(bucket, worker).candidates == []


def test_permanent_failures_are_not_retried(bucket: Bucket, settings: Settings) -> None:
    """A bad manifest under the current version would fail again: not a candidate."""
    inbox = submit_manifest(bucket, "u", b"{broken")
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    Worker(bucket, settings, LocalRunner(bucket, settings)).run(job)
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    assert reprocess(bucket, worker, dry_run=True).candidates == []


def test_max_jobs_limits_the_run(bucket: Bucket, settings: Settings, tmp_path: Path) -> None:
    """--max-jobs caps how many jobs one night re-runs."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    broken = Worker(bucket, settings, BrokenEncoder())
    broken.orchestrator.retry_backoff_s = 0.0
    for _ in range(3):
        broken.run(claimed_job(bucket, clip, {"framing": {}}))
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    assert len(reprocess(bucket, worker, dry_run=True, max_jobs=2).candidates) == 2


def test_since_skips_jobs_untouched_since_then(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """--since leaves out jobs whose status has not changed since that date."""
    from datetime import timedelta

    from pipeline.manifests.status import utc_now

    clip, _ = make_clip(tmp_path, duration_s=1.0)
    broken = Worker(bucket, settings, BrokenEncoder())
    broken.orchestrator.retry_backoff_s = 0.0
    broken.run(claimed_job(bucket, clip, {"framing": {}}))
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    future = utc_now() + timedelta(hours=1)
    past = utc_now() - timedelta(hours=1)
    assert reprocess(bucket, worker, dry_run=True, since=future).candidates == []
    assert len(reprocess(bucket, worker, dry_run=True, since=past).candidates) == 1

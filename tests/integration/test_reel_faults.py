"""A reel from the inbox under the faults a job meets: a clip not uploaded yet, a clip that
fails, a reel run again (re-queued after a failure, resumed after a lost lease), a cancel
while its clips are claimed. Real jobs on moto S3; faults injected where they happen."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import clip_key_for, submit_manifest, upload_clip
from pipeline.core.errors import ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.compose import local_worker
from pipeline.jobs.lease import acquire
from pipeline.jobs.reprocess import reason_to_reprocess, requeue
from pipeline.jobs.scan import Scanner
from pipeline.manifests.status import ErrorInfo, JobKind, JobState, StatusManifest
from pipeline.status.transitions import failed
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip

USER = "reeler"
Dispatch = Callable[[ClaimedJob], object]


def _reel(keys: list[str]) -> dict[str, object]:
    clips = [{"input_key": k, "moments": [{"start_s": 0.2, "end_s": 1.2}]} for k in keys]
    return {"schema_version": 1, "reel": {"clips": clips}}


def _scan(bucket: Bucket, settings: Settings, dispatch: Dispatch, times: int) -> None:
    scanner = Scanner(bucket, settings, dispatch=dispatch)
    for _ in range(times):
        scanner.scan_once()


def _until_done(bucket: Bucket, settings: Settings, request_id: str) -> StatusManifest:
    worker = local_worker(bucket, settings)
    client = ReelpipeClient(bucket, USER)
    try:
        scanner = Scanner(bucket, settings, dispatch=worker.run)
        for _ in range(10):
            scanner.scan_once()
            status = client.status_for_request(request_id)
            if status is not None and status.state.finished:
                return status
    finally:
        worker.close()
    raise AssertionError(f"{request_id} did not finish: {status}")


def _child(bucket: Bucket, reel: StatusManifest, index: int) -> StatusManifest:
    status = ReelpipeClient(bucket, USER).status_for_request(f"{reel.job_id}-clip{index}")
    assert status is not None
    return status


def _clips(tmp_path: Path, *names: str) -> list[Path]:
    return [make_clip(tmp_path, f"{n}.mp4", duration_s=1.5)[0] for n in names]


def _waiting_reel(
    bucket: Bucket, settings: Settings, tmp_path: Path, request_id: str
) -> tuple[StatusManifest, Path]:
    """A reel of two clips, the second not uploaded: scanned until its first clip is made
    and its second clip's job waits for the upload."""
    a, b = _clips(tmp_path, "a", "b")
    keys = [upload_clip(bucket, USER, a), clip_key_for(b)]
    submit_manifest(bucket, USER, _reel(keys), request_id=request_id)
    worker = local_worker(bucket, settings)
    try:
        _scan(bucket, settings, worker.run, 3)
    finally:
        worker.close()
    reel = ReelpipeClient(bucket, USER).status_for_request(request_id)
    assert reel is not None and not reel.state.finished
    assert _child(bucket, reel, 0).state is JobState.SUCCEEDED
    assert _child(bucket, reel, 1).state is JobState.WAITING_FOR_INPUT
    return reel, b


def test_a_reel_waits_for_a_clip_not_uploaded_yet_and_runs_once_it_arrives(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    reel, b = _waiting_reel(bucket, settings, tmp_path, "late-clip")
    message = reel.progress.message
    assert "reel clip 1" in message and clip_key_for(b) in message and "not uploaded" in message
    upload_clip(bucket, USER, b)
    final = _until_done(bucket, settings, "late-clip")
    assert final.state is JobState.SUCCEEDED, final.error
    assert _child(bucket, final, 1).state is JobState.SUCCEEDED


def test_a_reel_whose_clip_is_not_uploaded_is_waiting_for_input(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    reel, _ = _waiting_reel(bucket, settings, tmp_path, "late-state")
    assert reel.state is JobState.WAITING_FOR_INPUT
    assert reel.kind is JobKind.REEL and _child(bucket, reel, 0).kind is JobKind.CLIP


def test_a_reel_still_waiting_for_its_clip_is_not_started_again_by_each_scan(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Scanned again while its clip is still not uploaded, a waiting reel stays as it was:
    it is never said running in between (its bar going from 0 to 3% and back) and its
    attempts do not count the scans."""
    reel, _ = _waiting_reel(bucket, settings, tmp_path, "still-waiting")
    key = bucket.layout.status_key(USER, reel.job_id)
    written: list[dict[str, Any]] = []

    def record(request: Any, **_: Any) -> None:
        if request.method == "PUT" and request.url.split("?")[0].endswith(key):
            body = request.body
            written.append(json.loads(body.getvalue() if hasattr(body, "getvalue") else body))

    bucket.client.meta.events.register("before-send.s3", record)
    worker = local_worker(bucket, settings)
    try:
        _scan(bucket, settings, worker.run, 2)
    finally:
        worker.close()
    after = ReelpipeClient(bucket, USER).status_for_request("still-waiting")
    assert after is not None and after.state is JobState.WAITING_FOR_INPUT
    assert written, "the scans did not look at the waiting reel"
    assert [(w["state"], w["progress"]["percent"]) for w in written] == [
        ("waiting_for_input", 0.0)
    ] * len(written)
    assert after.attempts == reel.attempts
    assert after.progress.message == reel.progress.message


def test_a_reel_whose_clip_never_arrives_fails_naming_it(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """The clip's input wait runs out: the reel fails with that clip and why."""
    (a,) = _clips(tmp_path, "a")
    missing = "clips/never-uploaded.mp4"
    submit_manifest(bucket, USER, _reel([upload_clip(bucket, USER, a), missing]), request_id="r")
    final = _until_done(bucket, settings.replace(input_wait_s=0.0), "r")
    assert final.state is JobState.FAILED and final.error is not None
    assert f"reel clip 1 ({missing}) failed" in final.error.message
    assert "no such clip" in final.error.message
    assert final.error.kind is ErrorKind.INPUT_NOT_FOUND


def test_a_reel_run_again_after_a_clip_failed_reuses_the_finished_clip(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Clip 1's encoder crashes (a transient failure): the reel fails with that clip, why,
    and its kind, so the nightly rule re-queues it; run again, it re-runs clip 1 alone and
    leaves clip 0's finished job untouched."""
    keys = [upload_clip(bucket, USER, p) for p in _clips(tmp_path, "a", "b")]
    submit_manifest(bucket, USER, _reel(keys), request_id="crash")
    worker = local_worker(bucket, settings)
    crash = ErrorInfo(kind=ErrorKind.ENCODER_FAILED, message="x264 segfaulted")

    def broken_for_clip1(job: ClaimedJob) -> object:
        request = job.status.read().request_key or ""
        if request.endswith("-clip1.json"):
            return job.status.update(lambda s: failed(s, error=crash, stage=None, duration_s=0))
        return worker.run(job)

    try:
        _scan(bucket, settings, broken_for_clip1, 4)
    finally:
        worker.close()
    client = ReelpipeClient(bucket, USER)
    reel = client.status_for_request("crash")
    assert reel is not None and reel.state is JobState.FAILED and reel.error is not None
    assert f"reel clip 1 ({keys[1]}) failed: x264 segfaulted" in reel.error.message
    assert reel.error.kind is ErrorKind.ENCODER_FAILED
    assert reason_to_reprocess(reel) is not None
    clip0 = _child(bucket, reel, 0)
    assert clip0.state is JobState.SUCCEEDED

    # As the nightly run does: re-queued under its name, then run by its worker.
    job = ClaimedJob.existing(bucket, USER, reel.job_id)
    night = local_worker(bucket, settings)
    try:
        requeue(bucket, job, night.owner, settings.leases.ttl_s)
        night.run(job)
    finally:
        night.close()
    final = _until_done(bucket, settings, "crash")

    assert final.state is JobState.SUCCEEDED, final.error
    assert _child(bucket, final, 0) == clip0  # not one write: none of its stages ran again
    assert _child(bucket, final, 1).state is JobState.SUCCEEDED


def test_a_reel_resumed_after_its_worker_died_reuses_every_finished_clip(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    keys = [upload_clip(bucket, USER, p) for p in _clips(tmp_path, "a", "b")]
    submit_manifest(bucket, USER, _reel(keys), request_id="lost")
    client = ReelpipeClient(bucket, USER)
    worker = local_worker(bucket, settings)
    try:
        _scan(bucket, settings, worker.run, 1)  # the reel's first pass: its clips submitted
        reel = client.status_for_request("lost")
        assert reel is not None

        def clips_only(job: ClaimedJob) -> object:
            return None if job.job_id == reel.job_id else worker.run(job)

        _scan(bucket, settings, clips_only, 1)
    finally:
        worker.close()
    done = [_child(bucket, reel, i) for i in range(2)]
    assert all(c.state is JobState.SUCCEEDED for c in done)
    # A worker takes the reel and dies: its run lease runs out, never handed back.
    acquire(ClaimedJob.existing(bucket, USER, reel.job_id).status, "dead-worker", 0.0)

    final = _until_done(bucket, settings, "lost")

    assert final.state is JobState.SUCCEEDED, final.error
    assert final.runs.deaths == 1
    assert [_child(bucket, final, i) for i in range(2)] == done


def test_cancelling_a_reel_cancels_its_claimed_clips(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Clip 0 made, clip 1's job claimed and waiting for its upload: a cancel of the reel
    cancels clip 1's job and leaves the finished one as it is."""
    reel, _ = _waiting_reel(bucket, settings, tmp_path, "cancel-claimed")
    clip0 = _child(bucket, reel, 0)
    client = ReelpipeClient(bucket, USER)
    client.cancel(reel.job_id)
    worker = local_worker(bucket, settings)
    try:
        worker.run(ClaimedJob.existing(bucket, USER, reel.job_id))
    finally:
        worker.close()
    assert client.status(reel.job_id).state is JobState.CANCELLED
    assert _child(bucket, reel, 1).state is JobState.CANCELLED
    assert _child(bucket, reel, 0) == clip0

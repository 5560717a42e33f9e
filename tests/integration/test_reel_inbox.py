"""A reel manifest uploaded to the inbox, run by the scan and a worker like any job: its
clips become jobs, the reel waits for them, then is assembled; a failed clip fails it."""

from __future__ import annotations

from pathlib import Path

import av

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.keys import inbox_key
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.compose import local_worker
from pipeline.jobs.scan import Scanner
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.otio_edit import read, rendered_pieces
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip

USER = "reeler"


def _run_until_done(bucket: Bucket, settings: Settings, request_id: str) -> StatusManifest:
    """Scan and run what it finds until the request's job is finished (a few passes)."""
    worker = local_worker(bucket, settings)
    scanner = Scanner(bucket, settings, dispatch=worker.run)
    client = ReelpipeClient(bucket, USER)
    try:
        for _ in range(10):
            scanner.scan_once()
            status = client.status_for_request(request_id)
            if status is not None and status.state.finished:
                return status
    finally:
        worker.close()
    raise AssertionError(f"{request_id} did not finish: {status}")


def _reel(keys: list[str], **extra: object) -> dict[str, object]:
    clips = [{"input_key": k, "moments": [{"start_s": 0.2, "end_s": 1.2}]} for k in keys]
    return {"schema_version": 1, "reel": {"clips": clips, **extra}}


def test_a_reel_in_the_inbox_runs_its_clips_as_jobs_and_is_assembled(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    keys = [
        upload_clip(bucket, USER, make_clip(tmp_path, f"{n}.mp4", duration_s=1.5)[0]) for n in "ab"
    ]
    manifest = _reel(keys, transition={"kind": "crossfade", "duration_s": 0.2})
    submit_manifest(bucket, USER, manifest, request_id="my-reel")
    reel = _run_until_done(bucket, settings, "my-reel")

    assert reel.state is JobState.SUCCEEDED, reel.error
    assert {"reel.output", "reel.timeline", "poster", "preview"} <= set(reel.outputs)
    assert reel.output_key == reel.outputs["reel.output"]
    clips = ReelpipeClient(bucket, USER)
    children = [clips.status_for_request(f"{reel.job_id}-clip{i}") for i in range(2)]
    assert all(c is not None and c.state is JobState.SUCCEEDED for c in children)
    video = bucket.download_file(reel.output_key, tmp_path / "reel.mp4")
    with av.open(str(video)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == 30 + 30 - 6
    edit = bucket.download_file(reel.outputs["reel.timeline"], tmp_path / "t.otio")
    pieces, crossfade = rendered_pieces(read(edit))
    assert crossfade == 6
    assert [p.source_key for p in pieces] == [c.output_key for c in children if c]


def test_a_reel_whose_clip_fails_says_which(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    good = upload_clip(bucket, USER, make_clip(tmp_path, "good.mp4", duration_s=1.5)[0])
    bad_path = tmp_path / "bad.mp4"
    bad_path.write_bytes(b"not a video at all")
    bad = upload_clip(bucket, USER, bad_path)
    submit_manifest(bucket, USER, _reel([good, bad]), request_id="bad-reel")
    reel = _run_until_done(bucket, settings, "bad-reel")
    assert reel.state is JobState.FAILED
    assert reel.error is not None and "reel clip 1" in reel.error.message
    assert "failed" in reel.error.message


def test_cancelling_a_reel_cancels_its_clips(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Cancelled after its first pass (its clips submitted, none claimed yet): the reel
    ends cancelled and its clips' requests are taken out of the inbox, never run."""
    keys = [
        upload_clip(bucket, USER, make_clip(tmp_path, f"{n}.mp4", duration_s=1.0)[0]) for n in "ab"
    ]
    submit_manifest(bucket, USER, _reel(keys), request_id="cancel-reel")
    worker = local_worker(bucket, settings)
    scanner = Scanner(bucket, settings, dispatch=worker.run)
    client = ReelpipeClient(bucket, USER)
    try:
        scanner.scan_once()  # the reel's first pass: its clips go to the inbox
        reel = client.status_for_request("cancel-reel")
        assert reel is not None and reel.state is JobState.RUNNING
        assert bucket.exists(inbox_key(USER, f"{reel.job_id}-clip0"))
        client.cancel(reel.job_id)
        worker.run(ClaimedJob.existing(bucket, USER, reel.job_id))
    finally:
        worker.close()
    final = client.status(reel.job_id)
    assert final.state is JobState.CANCELLED
    for i in range(2):
        assert not bucket.exists(inbox_key(USER, f"{reel.job_id}-clip{i}"))

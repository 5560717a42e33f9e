"""What an app does around a job, against the real S3 API (moto) and real ffmpeg: find the
job behind its request, list its jobs, cancel one, get its poster and preview, and keep
its files in its own bucket layout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.client.app_client import JobNotFound, NoOutput, ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import InvalidKey
from pipeline.core.keys import Layout, inbox_key
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.status import JobState, StageState, StatusManifest
from pipeline.storage.bucket import Bucket, make_s3_client
from tests.factories import clip_with_a_cut, job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere, inspect, psnr, read_frame
from tests.stage_runs import run_claimed

USER = "alice"
# The player's box grows from 20x40 to 60x100 over the clip: he is best seen at the end.
GROWING = {"highlight": {"boxes": [[0, 100, 50, 20, 40], [59, 100, 50, 60, 100]]}}


def _submit(bucket: Bucket, clip: Path, request_id: str, **stages: object) -> str:
    relative = upload_clip(bucket, USER, clip)
    doc = {"input_key": relative, **job_manifest(**stages)}
    return submit_manifest(bucket, USER, doc, request_id=request_id).inbox_key


def _run(bucket: Bucket, settings: Settings, inbox: str, **listen: object) -> StatusManifest:
    return run_claimed(bucket, settings, inbox, **listen)


def test_the_request_names_its_job_from_the_claim_on(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    client = ReelpipeClient(bucket, USER)
    inbox = _submit(bucket, clip, "req-1", overlay=GROWING)
    assert client.status_for_request("req-1") is None  # still in the inbox: submitted
    job = claim(bucket, inbox)
    assert job is not None
    pointer = client.request_pointer("req-1")
    assert pointer is not None and pointer.job_id == job.job_id
    assert pointer.status_key == f"users/{USER}/jobs/{job.job_id}/status.json"
    assert pointer.request_key == inbox_key(USER, "req-1")
    found = client.status_for_request("req-1")
    assert found is not None and found.job_id == job.job_id
    with pytest.raises(JobNotFound):
        client.status_for_request("never-sent")


def test_a_reused_request_id_keeps_naming_its_first_job(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The pointer is created with If-None-Match: written once."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    first = claim(bucket, _submit(bucket, clip, "req-2", overlay=GROWING))
    second = claim(bucket, _submit(bucket, clip, "req-2", overlay={**GROWING, "dim": 0.5}))
    assert first is not None and second is not None and first.job_id != second.job_id
    pointer = ReelpipeClient(bucket, USER).request_pointer("req-2")
    assert pointer is not None and pointer.job_id == first.job_id


def test_a_job_in_the_apps_own_layout_keeps_everything_under_the_users_folder(
    settings: Settings, tmp_path: Path
) -> None:
    """``{user_id}/``: an app that keeps each user's files at the bucket's top level, input_key
    relative to the user's folder."""
    own = settings.replace(user_root="{user_id}/")
    bucket = Bucket(make_s3_client(own), own.storage.bucket, layout=Layout(own.storage.user_root))
    bucket.ensure_exists(own.storage.region)
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    bucket.upload_file(clip, f"{USER}/uploads/game.mp4")
    doc = {"input_key": "uploads/game.mp4", **job_manifest(overlay=GROWING)}
    inbox = submit_manifest(bucket, USER, doc, request_id="r1").inbox_key
    status = _run(bucket, own, inbox)
    assert status.state is JobState.SUCCEEDED, status.error
    ours = ("inbox/", "active/", "index/")  # reelpipe's own folders
    written = [o.key for o in bucket.list("") if not o.key.startswith(ours)]
    assert written and all(k.startswith(f"{USER}/") for k in written), written
    assert status.output_key is not None and status.output_key.startswith(f"{USER}/jobs/")
    assert bucket.exists(f"{USER}/requests/r1.json")
    assert not any(k.startswith("users/") for k in written)
    found = ReelpipeClient(bucket, USER).status_for_request("r1")
    assert found is not None and found.state is JobState.SUCCEEDED
    # Nothing may escape the folder, whatever the root.
    escape = {"input_key": "../bob/secret.mp4", **job_manifest(overlay=GROWING)}
    failed = _run(bucket, own, submit_manifest(bucket, USER, escape, request_id="r2").inbox_key)
    assert failed.state is JobState.FAILED and failed.error is not None
    assert failed.error.kind.value == "invalid_manifest"


def test_the_poster_shows_the_player_where_he_is_best_seen_and_the_preview_loops(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    status = _run(bucket, settings, _submit(bucket, clip, "req-p", overlay=GROWING))
    assert status.state is JobState.SUCCEEDED, status.error
    overlay = status.stages["overlay"]
    best = overlay.details["best_frame"]
    assert best >= 55, best  # where the box is largest
    output = bucket.download_file(status.output_key or "", tmp_path / "out.mp4")
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    preview = bucket.download_file(status.outputs["preview"], tmp_path / "preview.mp4")
    assert "/previews/run-" in status.outputs["poster"]
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24")
    assert picture.shape[:2] == (truth.height, truth.width)  # small outputs are not enlarged
    gray = picture.mean(axis=2)
    at_best = read_frame(output, best, truth.width, truth.height).mean(axis=2)
    at_start = read_frame(output, 0, truth.width, truth.height).mean(axis=2)
    assert psnr(gray, at_best) > psnr(gray, at_start) + 3
    facts = assert_playable_everywhere(preview)  # H.264 yuv420p, moov before mdat
    assert facts.audio is None
    assert facts.video.duration_s <= 2.05 and facts.video.frames <= 62
    assert max(facts.video.width, facts.video.height) <= 480


def test_the_preview_stays_in_the_camera_shot_of_its_moment(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """1.5 s of the game, then a hard cut to another scene: a player clicked before the
    cut gets a preview of the 1.5 s before it, not 3 s across it."""
    clip, truth = clip_with_a_cut(tmp_path)
    x, y, w, h = truth.boxes[20, 0]
    click = {"frame": 20, "x": float(x + w / 2), "y": float(y + h / 2)}
    inbox = _submit(
        bucket, clip, "req-cut", detect={"backend": "motion"}, overlay={"highlight": click}
    )
    status = _run(bucket, settings, inbox)
    assert status.state is JobState.SUCCEEDED, status.error
    details = status.stages["overlay"].details
    start, end = details["preview_window"]
    assert details["best_frame"] < 45 and 0 <= start < end <= 45
    preview = bucket.download_file(status.outputs["preview"], tmp_path / "preview.mp4")
    facts = inspect(preview)
    assert facts.video.duration_s <= 1.55 and facts.video.frames <= 46


def test_posters_and_previews_are_capped_on_the_long_side(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A portrait 1080x1920 output: a 720 px poster and a 480 px, 3 s preview."""
    clip, _ = make_clip(tmp_path, width=1080, height=1920, duration_s=4.0, fps=15, audio=True)
    status = _run(bucket, settings, _submit(bucket, clip, "req-big", overlay=GROWING))
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "p.jpg")
    preview = bucket.download_file(status.outputs["preview"], tmp_path / "v.mp4")
    with av.open(str(poster)) as image:
        frame = next(image.decode(video=0))
        assert max(frame.width, frame.height) <= 720 and frame.height >= 700
    facts = inspect(preview)
    assert max(facts.video.width, facts.video.height) <= 480
    assert facts.video.width % 2 == 0 and facts.video.height % 2 == 0
    assert facts.video.duration_s <= 3.05 and facts.audio is None
    assert preview.stat().st_size <= 600 * 1024


def test_a_users_jobs_are_listed_newest_first_page_by_page(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    ids = []
    for n in range(4):
        if n:
            time.sleep(1.05)  # S3 lists times to the second
        job = claim(bucket, _submit(bucket, clip, f"r{n}", overlay={**GROWING, "dim": 0.1 * n}))
        assert job is not None
        ids.append(job.job_id)
    client = ReelpipeClient(bucket, USER)
    seen: list[str] = []
    cursor = None
    while True:
        page = client.list_jobs(limit=3, cursor=cursor)
        assert 1 <= len(page.jobs) <= 3
        seen += [s.job_id for s in page.jobs]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert [s.job_id for s in client.list_jobs(limit=10).jobs] == ids[::-1]
    queued = client.list_jobs(state=JobState.QUEUED, limit=10)
    assert len(queued.jobs) == 4
    assert client.list_jobs(state=JobState.SUCCEEDED).jobs == []
    newest = client.status(ids[-1])
    assert newest is not None
    recent = client.list_jobs(since=newest.created_at.replace(microsecond=0))
    assert [s.job_id for s in recent.jobs] == [ids[-1]]
    with pytest.raises(InvalidKey):
        client.list_jobs(cursor="not-a-cursor")


def test_listing_costs_grow_with_the_users_jobs_not_the_bucket(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    from tests.factories import seed_history

    clip, _ = make_clip(tmp_path, duration_s=1.0)
    for n in range(3):
        assert claim(bucket, _submit(bucket, clip, f"q{n}", overlay=GROWING)) is not None
    alone = ReelpipeClient(bucket, USER).list_jobs(limit=10)
    seed_history(bucket.name, 3000, user_id="someone-else")
    crowded = ReelpipeClient(bucket, USER).list_jobs(limit=10)
    assert len(crowded.jobs) == len(alone.jobs) == 3
    assert crowded.requests == alone.requests == 1 + 3  # one listing page, three statuses


def test_cancelling_a_queued_job_ends_it_and_a_finished_one_is_left(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    client = ReelpipeClient(bucket, USER)
    queued = claim(bucket, _submit(bucket, clip, "c1", overlay=GROWING))
    assert queued is not None
    outcome = client.cancel(queued.job_id)
    assert outcome.changed and outcome.status.state is JobState.CANCELLED
    assert "cancelled" in outcome.message
    # A worker that picks it up later runs nothing and retires it.
    worker = local_worker(bucket, settings)
    final = worker.run(ClaimedJob.existing(bucket, USER, queued.job_id))
    assert final is not None and final.state is JobState.CANCELLED
    assert not bucket.exists(f"active/{USER}/{queued.job_id}")
    again = client.cancel(queued.job_id)
    assert not again.changed and "already cancelled" in again.message
    done = _run(bucket, settings, _submit(bucket, clip, "c2", overlay=GROWING))
    assert client.cancel(done.job_id).status.state is JobState.SUCCEEDED
    with pytest.raises(JobNotFound):
        client.cancel("0" * 20)


def test_a_running_job_stops_at_a_frame_boundary_and_keeps_finished_stages(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Framing finishes; the overlay is cancelled mid-clip; the clip is untouched."""
    unfused = settings.replace(fuse=False, progress_interval_s=0.0)
    clip, _ = make_clip(tmp_path, duration_s=3.0)
    inbox = _submit(bucket, clip, "c3", framing={"aspect": "1:1"}, overlay=GROWING)
    client = ReelpipeClient(bucket, USER)
    asked = threading.Event()

    def cancel_mid_overlay(status: StatusManifest) -> None:
        overlay = status.stages.get("overlay")  # type: ignore[call-overload]
        if overlay is not None and 10 < overlay.progress < 60 and not asked.is_set():
            asked.set()
            client.cancel(status.job_id)

    status = _run(bucket, unfused, inbox, on_status=cancel_mid_overlay)
    assert asked.is_set()
    assert status.state is JobState.CANCELLED
    assert status.stages["framing"].state is StageState.SUCCEEDED
    assert status.stages["overlay"].state is StageState.CANCELLED
    assert status.stages["overlay"].progress < 100
    assert "framing.video" in status.outputs and bucket.exists(status.outputs["framing.video"])
    assert status.output_key is None and status.lease is None
    assert bucket.exists(f"users/{USER}/{upload_clip(bucket, USER, clip)}")
    with pytest.raises(NoOutput):
        client.output_url(status.job_id)


def test_a_cancel_that_arrives_after_the_last_frame_still_ends_the_job_cancelled(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Asked before the job was done: cancelled, with the finished overlay's video kept."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    client = ReelpipeClient(bucket, USER)

    def cancel_once_overlay_is_done(status: StatusManifest) -> None:
        overlay = status.stages.get("overlay")  # type: ignore[call-overload]
        done = overlay is not None and overlay.state is StageState.SUCCEEDED
        if done and status.cancel_requested_at is None:
            client.cancel(status.job_id)

    inbox = _submit(bucket, clip, "c4", overlay=GROWING)
    status = _run(bucket, settings, inbox, on_status=cancel_once_overlay_is_done)
    assert status.state is JobState.CANCELLED
    assert status.stages["overlay"].state is StageState.SUCCEEDED
    assert bucket.exists(status.outputs["overlay.video"]) and "poster" not in status.outputs


def test_output_url_and_download_fetch_what_the_job_made(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    import urllib.request

    clip, _ = make_clip(tmp_path, duration_s=1.0)
    status = _run(bucket, settings, _submit(bucket, clip, "d1", overlay=GROWING))
    client = ReelpipeClient(bucket, USER)
    url = client.output_url(status.job_id, expires_s=60)
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = answer.read()
    assert body == bucket.get_bytes(status.output_key or "")[0]
    paths = client.download(status.job_id, tmp_path / "dl")
    assert set(paths) == {"output", "poster", "preview", "status"}
    assert inspect(paths["output"]).video.codec == "h264"
    assert paths["poster"].read_bytes()[:2] == b"\xff\xd8"  # JPEG
    assert np.frombuffer(paths["preview"].read_bytes()[4:8], np.uint8).tobytes() == b"ftyp"

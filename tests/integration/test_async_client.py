"""The async client keeps every S3 call off the event loop; the interactive calls raise
the project's errors, locally and when Modal cannot be reached."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from pipeline import client
from pipeline.client.app_client import ReelpipeClient
from pipeline.client.async_client import AsyncReelpipeClient
from pipeline.core.errors import InputNotFound
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.status import JobState
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


def test_every_s3_call_of_the_async_client_runs_off_the_loop(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    calls: list[tuple[str, int]] = []

    def seen(event_name: str, **_: Any) -> None:
        calls.append((event_name, threading.get_ident()))

    bucket.client.meta.events.register("before-call.s3.*", seen)
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = job_manifest(overlay={"highlight": {"boxes": [[0, 100, 50, 40, 80]]}})
    async_client = AsyncReelpipeClient(ReelpipeClient(bucket, "u"))
    heard: list[str] = []

    async def app() -> tuple[int, JobState, int]:
        loop_thread = threading.get_ident()
        job = await async_client.submit(clip, manifest, request_id="a-1")
        assert await async_client.status_for_request("a-1") is None
        claimed = await asyncio.to_thread(claim, bucket, job.inbox_key)  # the service's part
        assert claimed is not None
        worker = local_worker(bucket, settings)
        run = asyncio.create_task(asyncio.to_thread(worker.run, claimed))

        async def listen(update: Any) -> None:
            heard.append(update.phase.value)

        final = await async_client.wait(job.job_id, on_progress=listen, poll_s=0.05)
        await run
        await asyncio.to_thread(worker.close)
        page = await async_client.list_jobs()
        assert [s.job_id for s in page.jobs] == [job.job_id]
        assert (await async_client.cancel(job.job_id)).changed is False
        url = await async_client.output_url(job.job_id)
        assert url.startswith("http")
        paths = await async_client.download(job.job_id, tmp_path / "dl")
        assert paths["output"].stat().st_size > 0
        return loop_thread, final.state, len(page.jobs)

    loop_thread, state, _ = asyncio.run(app())
    assert state is JobState.SUCCEEDED
    assert heard[-1] == "complete"
    assert calls, "no S3 call was seen"
    on_loop = [name for name, thread in calls if thread == loop_thread]
    assert on_loop == []


def test_a_missing_clip_is_the_projects_error_not_a_status_dict(
    bucket: Bucket, settings: Settings
) -> None:
    with pytest.raises(InputNotFound):
        asyncio.run(client.detect_players(settings, "u", "clips/none.mp4", bucket=bucket))


def test_modal_unreachable_is_a_clear_error(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Modal credentials here: the call fails at once with RemoteUnavailable."""
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "none.toml"))
    remote = settings.replace(modal=True, modal_app="reelpipe-test-absent")
    with pytest.raises(client.RemoteUnavailable, match="detect_ball_modal"):
        asyncio.run(client.detect_ball(remote, "u", "clips/a.mp4"))

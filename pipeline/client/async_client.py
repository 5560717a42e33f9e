"""The app client for async code: every bucket call runs in a thread, off the event loop.

Example::

    client = AsyncReelpipeClient(ReelpipeClient(bucket, user_id="alice"))
    job = await client.submit(Path("game.mp4"), manifest, request_id="req-1")
    status = await client.status_for_request("req-1")
    final = await client.wait(job.job_id, on_progress=push_to_browser)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.client.app_client import (
    CancelOutcome,
    Follower,
    ProgressUpdate,
    ReelpipeClient,
)
from pipeline.client.job_listing import JobPage
from pipeline.client.submit import Submission
from pipeline.manifests.status import JobState, StatusManifest

ProgressListener = Callable[[ProgressUpdate], Awaitable[None] | None]


class AsyncReelpipeClient:
    """:class:`ReelpipeClient`'s operations as coroutines (``asyncio.to_thread``)."""

    def __init__(self, client: ReelpipeClient) -> None:
        self.sync = client

    async def submit(
        self, clip: Path | None, manifest: dict[str, Any], *, request_id: str | None = None
    ) -> Submission:
        """Upload the clip (if given), then the manifest."""
        return await asyncio.to_thread(self.sync.submit, clip, manifest, request_id=request_id)

    async def status(self, job_id: str) -> StatusManifest | None:
        """The job's status (None while its manifest waits in the inbox)."""
        return await asyncio.to_thread(self.sync.status, job_id)

    async def status_for_request(self, request_id: str) -> StatusManifest | None:
        """The status of the job behind a request (None while it waits in the inbox)."""
        return await asyncio.to_thread(self.sync.status_for_request, request_id)

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        since: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage:
        """The user's jobs, newest first."""
        return await asyncio.to_thread(
            self.sync.list_jobs, state=state, since=since, limit=limit, cursor=cursor
        )

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Ask the job to stop (see :meth:`ReelpipeClient.cancel`)."""
        return await asyncio.to_thread(self.sync.cancel, job_id)

    async def output_url(self, job_id: str, *, expires_s: int = 3600) -> str:
        """A presigned GET of the output."""
        return await asyncio.to_thread(self.sync.output_url, job_id, expires_s=expires_s)

    async def download(self, job_id: str, out_dir: Path) -> dict[str, Path]:
        """Output, poster, preview and status into ``out_dir``."""
        return await asyncio.to_thread(self.sync.download, job_id, out_dir)

    async def wait(
        self,
        job_id: str,
        *,
        on_progress: ProgressListener | None = None,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> StatusManifest:
        """Poll (sleeping with ``asyncio.sleep``) until the job finishes."""
        follow = Follower(job_id, timeout_s)
        while True:
            status = await self.status(job_id)
            update = follow.changed(status)
            if on_progress is not None and update is not None:
                heard = on_progress(update)
                if heard is not None:
                    await heard
            if follow.done(status):
                assert status is not None
                return status
            await asyncio.sleep(poll_s)

"""A small client for apps: submit a clip, read its status, wait with progress.

It speaks only to the bucket, like any app would: the clip goes to the user's
folder, the manifest to the inbox, and the status is read from the job folder.

Example::

    client = ReelpipeClient(bucket, user_id="alice")
    job = client.submit(Path("game.mp4"), {"schema_version": 1, "stages": {"framing": {}}})
    final = client.wait(job.job_id, on_progress=lambda p: print(p.phase, p.percent))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.client.submit import Submission, submit_manifest, upload_clip
from pipeline.core.errors import ObjectNotFound, ReelpipeError
from pipeline.core.keys import job_id_for, status_key, validate_id
from pipeline.manifests.status import JobState, StageState, StatusManifest
from pipeline.storage.bucket import Bucket

SAVING_FROM_PERCENT = 98.0


class Phase(StrEnum):
    """The phases an app shows (the seed's), derived from real stage progress."""

    QUEUED = "queued"
    STARTING = "starting"
    PROCESSING = "processing"
    SAVING = "saving"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress report for an app's progress bar."""

    phase: Phase
    percent: float
    message: str


class JobTimeout(ReelpipeError):
    """``wait`` gave up before the job finished."""


def progress_of(status: StatusManifest | None) -> ProgressUpdate:
    """Map a status manifest (None: not claimed yet) onto the app-facing phases."""
    if status is None:
        return ProgressUpdate(Phase.QUEUED, 0.0, "queued")
    message = status.progress.message
    if status.state is JobState.SUCCEEDED:
        return ProgressUpdate(Phase.COMPLETE, 100.0, "complete")
    if status.state is JobState.FAILED:
        detail = status.error.message if status.error else message
        return ProgressUpdate(Phase.FAILED, status.progress.percent, detail)
    if status.state in (JobState.QUEUED, JobState.WAITING_FOR_INPUT):
        return ProgressUpdate(Phase.QUEUED, 0.0, message)
    percent = status.progress.percent
    started = any(
        s.state is not StageState.PENDING and (s.progress > 0 or s.state is StageState.SUCCEEDED)
        for s in status.stages.values()
    )
    if not started:
        return ProgressUpdate(Phase.STARTING, percent, message)
    if percent >= SAVING_FROM_PERCENT:
        return ProgressUpdate(Phase.SAVING, percent, message)
    return ProgressUpdate(Phase.PROCESSING, percent, message)


class ReelpipeClient:
    """Submit jobs and follow them, for one user."""

    def __init__(self, bucket: Bucket, user_id: str) -> None:
        self.bucket = bucket
        self.user_id = validate_id(user_id)

    def submit(
        self,
        clip: Path | None,
        manifest: dict[str, Any],
        *,
        request_id: str | None = None,
    ) -> Submission:
        """Upload ``clip`` (if given; it fills ``input_key``), then the manifest."""
        doc = dict(manifest)
        if clip is not None:
            doc["input_key"] = upload_clip(self.bucket, self.user_id, clip)
        return submit_manifest(self.bucket, self.user_id, doc, request_id=request_id)

    def status(self, job_id: str) -> StatusManifest | None:
        """The job's status, or None while its manifest is still waiting in the inbox."""
        try:
            doc = self.bucket.get_json(status_key(self.user_id, job_id))
        except ObjectNotFound:
            return None
        return StatusManifest.model_validate(doc.data)

    def pending_request(self, job_id: str) -> str | None:
        """The inbox key of this user's manifest that will become ``job_id``, if one is
        waiting (lists only the user's own pending manifests)."""
        prefix = f"inbox/{self.user_id}/"
        for item in self.bucket.list(prefix):
            if job_id_for(item.key, item.etag) == job_id:
                return item.key
        return None

    def wait(
        self,
        job_id: str,
        *,
        on_progress: Callable[[ProgressUpdate], None] | None = None,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> StatusManifest:
        """Poll until the job succeeds or fails; ``on_progress`` hears each change."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last: ProgressUpdate | None = None
        while True:
            status = self.status(job_id)
            update = progress_of(status)
            if on_progress is not None and update != last:
                on_progress(update)
                last = update
            if status is not None and status.state.finished:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeout(f"job {job_id} did not finish within {timeout_s:g} s")
            time.sleep(poll_s)

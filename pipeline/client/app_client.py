"""A small client for apps: submit a clip, find and follow its job, cancel, download.

It speaks only to the bucket, like any app would: the clip goes to the user's
folder, the manifest to the inbox, and the status is read from the job folder.

Example::

    client = ReelpipeClient(bucket, user_id="alice")
    job = client.submit(Path("game.mp4"), {"stages": {"framing": {}}}, request_id="req-1")
    final = client.wait(job.job_id, on_progress=lambda p: print(p.phase, p.percent))
    client.status_for_request("req-1")       # the same job, found by the app's own id
    client.output_url(job.job_id)            # a presigned GET of the output
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.client.job_listing import JobPage, list_jobs
from pipeline.client.submit import Submission, submit_manifest, upload_clip
from pipeline.core.errors import ObjectNotFound, ReelpipeError
from pipeline.core.keys import inbox_key, job_id_for, validate_id, validate_job_id
from pipeline.manifests.request_pointer import RequestPointer
from pipeline.manifests.status import JobState, StageState, StatusManifest
from pipeline.status.store import StatusStore
from pipeline.status.transitions import cancel_requested
from pipeline.storage.bucket import Bucket

SAVING_FROM_PERCENT = 98.0


class Phase(StrEnum):
    """The phases an app shows, derived from real stage progress."""

    QUEUED = "queued"
    STARTING = "starting"
    PROCESSING = "processing"
    SAVING = "saving"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress report for an app's progress bar."""

    phase: Phase
    percent: float
    message: str


class JobTimeout(ReelpipeError):
    """``wait`` gave up before the job finished."""


@dataclass
class Follower:
    """Following one job by polling: which updates are news, and when to stop."""

    job_id: str
    timeout_s: float | None
    last: ProgressUpdate | None = None
    started: float = field(default_factory=time.monotonic)

    def changed(self, status: StatusManifest | None) -> ProgressUpdate | None:
        """The app-facing update of ``status`` if it differs from the last one."""
        update = progress_of(status)
        if update == self.last:
            return None
        self.last = update
        return update

    def done(self, status: StatusManifest | None) -> bool:
        """True once the job has finished; JobTimeout when ``timeout_s`` has passed."""
        if status is not None and status.state.finished:
            return True
        if self.timeout_s is not None and time.monotonic() - self.started > self.timeout_s:
            raise JobTimeout(f"job {self.job_id} did not finish within {self.timeout_s:g} s")
        return False


class JobNotFound(ReelpipeError):
    """No such job (or request) for this user."""


class NoOutput(ReelpipeError):
    """The job has no output (yet): it has not succeeded."""


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel did: ``requested`` (the running job stops at its next frame),
    ``cancelled`` (it had not started), or nothing (it had already finished)."""

    status: StatusManifest
    changed: bool

    @property
    def message(self) -> str:
        """A line for people."""
        state = self.status.state
        if not self.changed:
            if state.finished:
                return f"job {self.status.job_id} already {state.value}: nothing to cancel"
            return f"job {self.status.job_id}: cancel already requested"
        if state is JobState.CANCELLED:
            return f"job {self.status.job_id} cancelled"
        return f"job {self.status.job_id}: cancel requested; it stops at its next frame"


DOWNLOADS = (("output", ".mp4"), ("poster", "-poster.jpg"), ("preview", "-preview.mp4"))


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
    if status.state is JobState.CANCELLED:
        return ProgressUpdate(Phase.CANCELLED, status.progress.percent, "cancelled")
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
            doc = self.bucket.get_json(self.bucket.layout.status_key(self.user_id, job_id))
        except ObjectNotFound:
            return None
        return StatusManifest.model_validate(doc.data)

    def request_pointer(self, request_id: str) -> RequestPointer | None:
        """Which job the request ``request_id`` became; None until it is claimed."""
        try:
            doc = self.bucket.get_json(self.bucket.layout.request_key(self.user_id, request_id))
        except ObjectNotFound:
            return None
        return RequestPointer.model_validate(doc.data)

    def status_for_request(self, request_id: str) -> StatusManifest | None:
        """The status of the job behind ``inbox/{user}/{request_id}.json``: None while the
        request waits in the inbox; JobNotFound when there is no such request."""
        pointer = self.request_pointer(request_id)
        if pointer is None:
            if self.bucket.exists(inbox_key(self.user_id, request_id)):
                return None
            # Claimed between the two reads (the pointer is written before the inbox
            # copy goes): read it again before saying there is no such request.
            pointer = self.request_pointer(request_id)
        if pointer is None:
            raise JobNotFound(f"no request {request_id!r} for user {self.user_id}")
        return self.status(pointer.job_id)

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        since: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage:
        """This user's jobs, newest first (see :mod:`pipeline.client.job_listing`)."""
        return list_jobs(
            self.bucket, self.user_id, state=state, since=since, limit=limit, cursor=cursor
        )

    def cancel(self, job_id: str) -> CancelOutcome:
        """Ask the job to stop. A job not started yet is cancelled at once; a running one
        stops at its next frame boundary, keeping what its finished stages wrote; a
        finished job is left as it is. The inbox and the user's files are never touched."""
        key = self.bucket.layout.status_key(self.user_id, validate_job_id(job_id))
        store = StatusStore(self.bucket, key)
        changed = False

        def cancel(status: StatusManifest) -> StatusManifest:
            nonlocal changed
            after = cancel_requested(status)
            changed = after is not status
            return after

        try:
            return CancelOutcome(store.update(cancel), changed)
        except ObjectNotFound:
            raise JobNotFound(f"no job {job_id} for user {self.user_id}") from None

    def output_url(self, job_id: str, *, expires_s: int = 3600) -> str:
        """A presigned GET of the job's output, valid ``expires_s`` seconds."""
        return self.bucket.presigned_get(self._output_key(job_id), expires_s)

    def download(self, job_id: str, out_dir: Path) -> dict[str, Path]:
        """Fetch the output, poster, preview and status into ``out_dir``; their paths."""
        status = self._finished_status(job_id)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        keys = {"output": status.output_key, **status.outputs}
        for label, suffix in DOWNLOADS:
            key = keys.get(label)
            if key:
                paths[label] = self.bucket.download_file(key, out_dir / f"{job_id}{suffix}")
        status_path = out_dir / f"{job_id}-status.json"
        status_path.write_text(status.model_dump_json(indent=2) + "\n")
        paths["status"] = status_path
        return paths

    def _finished_status(self, job_id: str) -> StatusManifest:
        status = self.status(validate_job_id(job_id))
        if status is None:
            raise JobNotFound(f"no job {job_id} for user {self.user_id} (not claimed yet?)")
        if status.state is not JobState.SUCCEEDED or not status.output_key:
            raise NoOutput(f"job {job_id} is {status.state.value}: it has no output")
        return status

    def _output_key(self, job_id: str) -> str:
        key = self._finished_status(job_id).output_key
        assert key is not None
        return key

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
        follow = Follower(job_id, timeout_s)
        while True:
            status = self.status(job_id)
            update = follow.changed(status)
            if on_progress is not None and update is not None:
                on_progress(update)
            if follow.done(status):
                assert status is not None
                return status
            time.sleep(poll_s)

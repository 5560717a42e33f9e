"""A reel manifest from the inbox, run by a worker like any job: its clips become jobs.

The first run submits one job per clip to the inbox, under request ids made from
the reel's job id (``{reel}-clip{i}``: a retried reel finds the jobs it made and
submits none twice, and every finished clip is reused); the workers claim them
like any upload. The reel then waits, as a job waits for its clip, handed back
and looked at again by the scan, until every clip's job has finished
(:class:`ClipNotUploaded` while a clip is not even uploaded, naming it). A clip
that failed fails the reel with which clip and why, and with that clip's error
kind (a transient one makes the reel, like its clip, worth running again); a
cancel of the reel cancels its clips.

A reel run again (re-queued after a failure, resumed after a lost lease) reuses
every finished clip: their jobs are found by request id and never run again. A
clip whose failure the reel already reported (``reel/failed-clips.json`` under
the reel's job) is given another run when that failure was transient, and the
reel waits for it; one that failed for good fails the reel again at once.

When all have succeeded, the reel is assembled here
(:func:`pipeline.jobs.reel_process.assemble_rendered`) and its files written
under the reel's job (``reel/run-{epoch}/``): the reel, its edit (OTIO, FCP
XML, EDL), its poster and preview.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest
from pipeline.core.errors import (
    AlreadyExists,
    ClipNotUploaded,
    ClipsBeingMade,
    ObjectNotFound,
    ReelClipFailed,
    StageParamsInvalid,
)
from pipeline.core.keys import inbox_key
from pipeline.core.settings import Settings
from pipeline.jobs.lease import new_lease
from pipeline.jobs.reel_cut import (
    RenderedClip,
    assemble_rendered,
    detections_of,
    player_coverage,
    stages_for,
    timeline_of,
)
from pipeline.manifests.reel import Reel, ReelClipStatus
from pipeline.manifests.status import JobState, LeaseKind, StatusManifest
from pipeline.media.probe import probe
from pipeline.status.marker import put_marker
from pipeline.status.store import StatusStore
from pipeline.status.transitions import requeued
from pipeline.storage.bucket import Bucket

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".otio": "application/json",
    ".xml": "application/xml",
    ".edl": "text/plain",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}


@dataclass(frozen=True)
class ReelOutcome:
    """What a pass over the reel found: still waiting, failed (why), or made (its files)."""

    outputs: dict[str, str]  # label -> bucket key, when made
    output_key: str | None
    cancelled: bool = False


class ReelJob:
    """One pass of a reel's run (see the module docstring)."""

    def __init__(self, bucket: Bucket, settings: Settings, status: StatusManifest) -> None:
        self.bucket, self.settings, self.status = bucket, settings, status
        self.client = ReelpipeClient(bucket, status.user_id)

    def request_id(self, index: int) -> str:
        return f"{self.status.job_id}-clip{index}"

    def submit_clips(self, reel: Reel) -> None:
        """Each clip's job in the inbox (once: a retry finds them there or claimed)."""
        for index, clip in enumerate(reel.clips):
            if clip.input_key is None:
                raise StageParamsInvalid(f"reel.clips[{index}]: input_key is missing")
            stages = stages_for(reel, index) or {"framing": {}}  # as it is: re-encoded alike
            manifest = {"input_key": clip.input_key, "stages": stages}
            with contextlib.suppress(AlreadyExists):  # submitted by an earlier pass
                submit_manifest(
                    self.bucket, self.status.user_id, manifest, request_id=self.request_id(index)
                )

    def clip_statuses(self, reel: Reel) -> list[StatusManifest | None]:
        """Each clip's job's status (None: not claimed yet)."""
        return [self.client.status_for_request(self.request_id(i)) for i in range(len(reel.clips))]

    def cancel_clips(self, statuses: list[StatusManifest | None]) -> None:
        """Cancel the clips' jobs: a claimed one through its status (it stops at its next
        frame), one still in the inbox taken out of it (the reel made it; nobody else
        waits for it)."""
        for index, status in enumerate(statuses):
            if status is None:
                self.bucket.delete(inbox_key(self.status.user_id, self.request_id(index)))
            elif not status.state.finished:
                self.client.cancel(status.job_id)

    def run(self, reel: Reel, epoch: int, cancel_asked: bool) -> ReelOutcome:
        """Submit, look at the clips' jobs, and assemble once they are all done; raises
        ClipsBeingMade while any is still on its way (the reel waits: ClipNotUploaded
        when one is not uploaded yet), ReelClipFailed naming the clip that failed."""
        self.submit_clips(reel)
        statuses = self.clip_statuses(reel)
        if cancel_asked:
            self.cancel_clips(statuses)
            return ReelOutcome({}, None, cancelled=True)
        statuses = self.rerun_reported_failures(statuses)
        for index, status in enumerate(statuses):
            if status is not None and status.state in (JobState.FAILED, JobState.CANCELLED):
                self._fail_on(reel, index, status)
        pending = [i for i, s in enumerate(statuses) if s is None or not s.state.finished]
        if pending:
            self._wait_for(reel, statuses, pending)
        return self._assemble(reel, [s for s in statuses if s is not None], epoch)

    def _fail_on(self, reel: Reel, index: int, status: StatusManifest) -> None:
        """Fail the reel with its clip's failure (recorded first: a later run of the reel
        knows it was reported, and gives a transient one another run)."""
        self._record_failure(status)
        why = status.error.message if status.error else status.state.value
        kind = status.error.kind if status.error else ReelClipFailed.kind
        raise ReelClipFailed(
            f"reel clip {index} ({reel.clips[index].input_key}) {status.state.value}: {why}",
            kind,
        )

    def _wait_for(
        self, reel: Reel, statuses: list[StatusManifest | None], pending: list[int]
    ) -> None:
        """Raise what the reel waits for: a clip not uploaded yet (named), else its clips
        still being made."""
        done = f"({len(statuses) - len(pending)} of {len(statuses)} done)"
        for index in pending:
            status, key = statuses[index], reel.clips[index].input_key
            unclaimed_and_absent = status is None and not self._uploaded(key)
            if unclaimed_and_absent or (
                status is not None and status.state is JobState.WAITING_FOR_INPUT
            ):
                raise ClipNotUploaded(
                    f"reel clip {index} ({key}) is not uploaded yet: upload it and the reel "
                    f"goes on {done}"
                )
        raise ClipsBeingMade(
            f"the reel's clips {', '.join(map(str, pending))} are still being made {done}"
        )

    def _uploaded(self, input_key: str | None) -> bool:
        return input_key is not None and self.bucket.exists(
            self.bucket.layout.user_key(self.status.user_id, input_key)
        )

    # -- a reel run again ------------------------------------------------------------

    def _failures_key(self) -> str:
        layout = self.bucket.layout
        return layout.job_prefix(self.status.user_id, self.status.job_id) + "reel/failed-clips.json"

    def _reported(self) -> dict[str, str]:
        """The clips' failures the reel already failed on: clip job id -> its finish time."""
        try:
            data = self.bucket.get_json(self._failures_key()).data
        except ObjectNotFound:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _record_failure(self, status: StatusManifest) -> None:
        reported = self._reported()
        reported[status.job_id] = _finish_time(status)
        self.bucket.put_json(self._failures_key(), reported)

    def rerun_reported_failures(
        self, statuses: list[StatusManifest | None]
    ) -> list[StatusManifest | None]:
        """This reel runs again after failing on a clip: that clip's job goes back to the
        queue (the scan runs it at once) when its failure was transient; a failure not
        reported yet, or one for good, is left for the reel to fail on."""
        if not any(s is not None and s.state is JobState.FAILED for s in statuses):
            return statuses
        reported = self._reported()
        out = []
        for status in statuses:
            if (
                status is not None
                and status.state is JobState.FAILED
                and reported.get(status.job_id) == _finish_time(status)
                and status.error is not None
                and status.error.kind.transient
            ):
                status = self._requeue(status)
            out.append(status)
        return out

    def _requeue(self, status: StatusManifest) -> StatusManifest:
        """The clip's job queued again under a claim already run out, so the next scan
        hands it to a worker (its finished stages reused by their cache keys)."""
        store = StatusStore(
            self.bucket, self.bucket.layout.status_key(status.user_id, status.job_id)
        )
        put_marker(self.bucket, status.user_id, status.job_id, JobState.QUEUED)
        claim = new_lease(f"reel-{self.status.job_id}", 0.0, LeaseKind.CLAIM)
        return store.update(lambda s: requeued(s, claim) if s.state is JobState.FAILED else s)

    def _assemble(self, reel: Reel, statuses: list[StatusManifest], epoch: int) -> ReelOutcome:
        scratch = self.settings.scratch_dir / "reels" / f"{self.status.job_id}-{time.time_ns()}"
        try:
            rendered = []
            for index, (clip, status) in enumerate(zip(reel.clips, statuses, strict=True)):
                assert status.output_key is not None
                local = self.bucket.download_file(status.output_key, scratch / f"clip-{index}.mp4")
                summary = ReelClipStatus(
                    input_key=clip.input_key or "",
                    job_id=status.job_id,
                    state=status.state.value,
                    output_key=status.output_key,
                    cost_usd=status.cost_usd,
                )
                rendered.append(
                    RenderedClip(
                        clip,
                        local,
                        probe(local),
                        status.output_key,
                        timeline_of(self.bucket, status),
                        summary,
                        player_coverage(status),
                        detections_of(self.bucket, status),
                        reel.highlight_of(index),
                    )
                )
            made = assemble_rendered(rendered, reel, scratch / "reel", 0.0)
            if made.status.state != JobState.SUCCEEDED.value:
                raise StageParamsInvalid(made.status.error or "the reel could not be made")
            return self._upload(made.paths, epoch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _upload(self, paths: dict[str, Path], epoch: int) -> ReelOutcome:
        """The reel's files under its job, this run's epoch in the key (a later run never
        overwrites what an earlier one wrote)."""
        layout = self.bucket.layout
        root = layout.status_key(self.status.user_id, self.status.job_id).rsplit("/", 1)[0]
        outputs = {}
        for label, path in paths.items():
            key = f"{root}/reel/run-{epoch}/{path.name}"
            content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
            self.bucket.upload_file(path, key, content_type=content_type)
            outputs[label if label in ("poster", "preview") else f"reel.{label}"] = key
        return ReelOutcome(outputs, outputs.get("reel.output"))


def _finish_time(status: StatusManifest) -> str:
    return status.finished_at.isoformat() if status.finished_at else ""

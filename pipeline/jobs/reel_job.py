"""A reel manifest from the inbox, run by a worker like any job: its clips become jobs.

The first run submits one job per clip to the inbox, under request ids made from
the reel's job id (``{reel}-clip{i}``: a retried reel finds the jobs it made and
submits none twice, and every finished clip is reused); the workers claim them
like any upload. The reel then waits, as a job waits for its clip, handed back
and looked at again by the scan, until every clip's job has finished. A clip
that failed fails the reel with which clip and why; a cancel of the reel
cancels its clips. When all have succeeded, the reel is assembled here
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
from pipeline.core.errors import AlreadyExists, InputNotFound, StageParamsInvalid
from pipeline.core.keys import inbox_key
from pipeline.core.settings import Settings
from pipeline.jobs.reel_cut import (
    RenderedClip,
    assemble_rendered,
    player_coverage,
    stages_for,
    timeline_of,
)
from pipeline.manifests.reel import Reel, ReelClipStatus
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.probe import probe
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
            stages = stages_for(clip, reel) or {"framing": {}}  # as it is: re-encoded alike
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
        InputNotFound while any is still on its way (the reel waits), StageParamsInvalid
        naming the clip that failed."""
        self.submit_clips(reel)
        statuses = self.clip_statuses(reel)
        if cancel_asked:
            self.cancel_clips(statuses)
            return ReelOutcome({}, None, cancelled=True)
        for index, status in enumerate(statuses):
            if status is not None and status.state in (JobState.FAILED, JobState.CANCELLED):
                why = status.error.message if status.error else status.state.value
                raise StageParamsInvalid(
                    f"reel clip {index} ({reel.clips[index].input_key}) {status.state.value}: {why}"
                )
        pending = [i for i, s in enumerate(statuses) if s is None or not s.state.finished]
        if pending:
            raise InputNotFound(
                f"the reel's clips {', '.join(map(str, pending))} are still being made "
                f"({len(statuses) - len(pending)} of {len(statuses)} done)"
            )
        return self._assemble(reel, [s for s in statuses if s is not None], epoch)

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

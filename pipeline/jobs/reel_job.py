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

When all have succeeded, the reel is assembled by a call of its own on its sized
machine (:mod:`pipeline.jobs.reel_assembly_call`, run with ``assemble_with``: the
orchestrator's runner, retried and charged as a step), which writes its files under
the reel's job (``reel/run-{epoch}/``): the reel, its edit (OTIO, FCP XML, EDL), its
poster and preview.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

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
from pipeline.jobs.lease import new_lease
from pipeline.jobs.reel_cut import stages_for
from pipeline.manifests.reel import Reel
from pipeline.manifests.status import Fence, JobState, LeaseKind, StatusManifest
from pipeline.stages.base import Assembly, Call, StageResult
from pipeline.status.marker import put_marker
from pipeline.status.store import StatusStore
from pipeline.status.transitions import requeued
from pipeline.storage.bucket import Bucket


@dataclass(frozen=True)
class ReelOutcome:
    """What a pass over the reel found: still waiting, failed (why), or made (its files)."""

    outputs: dict[str, str]  # label -> bucket key, when made
    output_key: str | None
    cancelled: bool = False


class ReelJob:
    """One pass of a reel's run (see the module docstring)."""

    def __init__(
        self,
        bucket: Bucket,
        status: StatusManifest,
        assemble_with: Callable[[Call], StageResult],
        fence: Fence | None = None,
    ) -> None:
        self.bucket, self.status, self.fence = bucket, status, fence
        self.assemble_with = assemble_with  # runs the assembly call (the orchestrator's runner)
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
        """The reel's assembly call (:mod:`pipeline.jobs.reel_assembly_call`), on its own
        machine; what it stored."""
        assembly = Assembly(
            user_id=self.status.user_id,
            job_id=self.status.job_id,
            reel=reel.model_dump(mode="json"),
            clips=tuple(s.model_dump(mode="json") for s in statuses),
            fence=self.fence,
            epoch=epoch,
        )
        made = self.assemble_with(Call.assembling(assembly))
        outputs = {str(k): str(v) for k, v in made.details["outputs"].items()}
        return ReelOutcome(outputs, outputs.get("reel.output"))


def _finish_time(status: StatusManifest) -> str:
    return status.finished_at.isoformat() if status.finished_at else ""

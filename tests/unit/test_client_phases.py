"""The client's progress phases (queued, starting, processing, saving, complete) follow real
stage progress."""

from __future__ import annotations

import pytest

from pipeline.client.app_client import Phase, progress_of
from pipeline.core.errors import ErrorKind
from pipeline.manifests.job import StageName
from pipeline.manifests.status import (
    ErrorInfo,
    JobState,
    Progress,
    StageState,
    StatusManifest,
)
from pipeline.status.transitions import with_stage


def status(
    state: JobState, percent: float = 0.0, **stages: tuple[StageState, float]
) -> StatusManifest:
    s = StatusManifest(job_id="0" * 20, user_id="u", manifest_key="m").model_copy(
        update={"state": state, "progress": Progress(percent=percent, message="m")}
    )
    for name, (stage_state, progress) in stages.items():
        s = with_stage(s, StageName(name), state=stage_state, progress=progress)
    return s


@pytest.mark.parametrize(
    ("doc", "phase"),
    [
        (None, Phase.QUEUED),
        (status(JobState.QUEUED), Phase.QUEUED),
        (status(JobState.WAITING_FOR_INPUT), Phase.QUEUED),
        (status(JobState.RUNNING, 3, framing=(StageState.RUNNING, 0.0)), Phase.STARTING),
        (status(JobState.RUNNING, 40, framing=(StageState.RUNNING, 60.0)), Phase.PROCESSING),
        (
            status(JobState.RUNNING, 98, framing=(StageState.SUCCEEDED, 100.0)),
            Phase.SAVING,
        ),
        (status(JobState.SUCCEEDED, 100), Phase.COMPLETE),
    ],
)
def test_phases_follow_the_status(doc: StatusManifest | None, phase: Phase) -> None:
    """Each status maps onto the phase an app shows."""
    assert progress_of(doc).phase is phase


def test_failed_jobs_report_the_error_message() -> None:
    """A failure carries its human message to the app."""
    failed = status(JobState.FAILED, 20).model_copy(
        update={"error": ErrorInfo(kind=ErrorKind.INVALID_MEDIA, message="not a video")}
    )
    update = progress_of(failed)
    assert (update.phase, update.message) == (Phase.FAILED, "not a video")

"""Every job transition against every state it could be asked to leave: the table of what
is allowed, and a refusal (nothing written) for the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from pipeline.core.errors import ErrorKind, TransitionRefused
from pipeline.jobs.lease import new_lease
from pipeline.manifests.status import ErrorInfo, JobKind, JobState, LeaseKind, StatusManifest
from pipeline.status.transitions import (
    LEAVES,
    cancel_requested,
    cancelled,
    failed,
    requeued,
    running,
    succeeded,
    waiting_for_input,
)

ERROR = ErrorInfo(kind=ErrorKind.INVALID_MEDIA, message="not a video", stage=None)
TRANSITIONS: dict[str, Callable[[StatusManifest], StatusManifest]] = {
    "running": lambda s: running(s, input_key="clips/a.mp4", stages=[], estimated_cost_usd=None),
    "waiting_for_input": lambda s: waiting_for_input(
        s, since=datetime(2026, 1, 1, tzinfo=UTC), missing="clips/a.mp4"
    ),
    "succeeded": lambda s: succeeded(s, outputs={}, output_key="out.mp4", duration_s=1.0),
    "failed": lambda s: failed(s, error=ERROR, stage=None, duration_s=1.0),
    "cancelled": lambda s: cancelled(s, outputs={}, duration_s=1.0),
    "requeued": lambda s: requeued(s, new_lease("w", 60.0, LeaseKind.CLAIM)),
}
# What the pipeline's lifecycle allows: left as the table in the code says, row by row.
EXPECTED = {
    "running": {JobState.QUEUED, JobState.WAITING_FOR_INPUT, JobState.RUNNING},
    "waiting_for_input": {JobState.QUEUED, JobState.WAITING_FOR_INPUT, JobState.RUNNING},
    "succeeded": {JobState.RUNNING},
    "failed": {JobState.QUEUED, JobState.WAITING_FOR_INPUT, JobState.RUNNING},
    "cancelled": {JobState.QUEUED, JobState.WAITING_FOR_INPUT, JobState.RUNNING},
    "requeued": {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED},
}


def in_state(state: JobState) -> StatusManifest:
    return StatusManifest(job_id="j", user_id="u", manifest_key="m", state=state)


def test_the_table_covers_every_transition() -> None:
    assert set(LEAVES) == set(TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_a_transition_leaves_only_the_states_it_may(name: str, state: JobState) -> None:
    status = in_state(state)
    if state in EXPECTED[name]:
        assert TRANSITIONS[name](status).state is not None
    else:
        with pytest.raises(TransitionRefused, match=f"a {state.value} job cannot be made {name}"):
            TRANSITIONS[name](status)


def test_a_cancelled_job_is_never_succeeded() -> None:
    done = cancelled(in_state(JobState.RUNNING), outputs={}, duration_s=1.0)
    with pytest.raises(TransitionRefused):
        succeeded(done, outputs={}, output_key="out.mp4", duration_s=1.0)


# The owner's cancel, by kind of job and state: cancelled at once, marked for the worker
# (which stops it, and a reel's clips, at its next pass or frame), or left as it is.
AT_ONCE, MARKED, LEFT = "cancelled at once", "marked", "left"
CANCEL = {
    (JobKind.CLIP, JobState.QUEUED): AT_ONCE,
    (JobKind.CLIP, JobState.WAITING_FOR_INPUT): AT_ONCE,
    (JobKind.CLIP, JobState.RUNNING): MARKED,
    (JobKind.REEL, JobState.QUEUED): AT_ONCE,  # not started, or re-queued once finished
    (JobKind.REEL, JobState.WAITING_FOR_INPUT): MARKED,  # its clips' jobs exist
    (JobKind.REEL, JobState.RUNNING): MARKED,
}


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("kind", list(JobKind))
def test_a_cancel_request_by_kind_and_state(kind: JobKind, state: JobState) -> None:
    status = in_state(state).model_copy(update={"kind": kind})
    after = cancel_requested(status)
    expected = CANCEL.get((kind, state), LEFT)
    if expected == LEFT:
        assert after is status
    elif expected == MARKED:
        assert after.state is state and after.cancel_requested_at is not None
    else:
        assert after.state is JobState.CANCELLED and after.cancel_requested_at is not None

"""A JobRun ends a job only through the guarded transitions: a job that is already
cancelled or finished is never succeeded, failed or cancelled again through it, and
nothing is written when it refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from pipeline.core.errors import EncoderCrashed, InputNotFound, TransitionRefused
from pipeline.core.settings import Settings
from pipeline.jobs.job_run import JobRun
from pipeline.manifests.status import JobState, StatusManifest, utc_now
from pipeline.status.store import StatusStore
from pipeline.status.transitions import (
    cancel_requested,
    cancelled,
    running,
    succeeded,
)
from pipeline.storage.bucket import Bucket

JOB = "0123456789abcdef0123"
Ending = Callable[[JobRun], StatusManifest]
ENDINGS: dict[str, Ending] = {
    "succeed": lambda run: run.succeed(previews={}),
    "fail": lambda run: run.fail(EncoderCrashed("x264 died")),
    "cancel": lambda run: run.cancel(),
    "wait_for_input": lambda run: run.wait_for_input(InputNotFound("clips/a.mp4: not yet")),
}
# The state a running job ends in through each of JobRun's endings.
FROM_RUNNING = {
    "succeed": JobState.SUCCEEDED,
    "fail": JobState.FAILED,
    "cancel": JobState.CANCELLED,
    "wait_for_input": JobState.WAITING_FOR_INPUT,
}


def store_in(bucket: Bucket, state: JobState) -> StatusStore:
    """A job's status store, its job moved to ``state`` the way the pipeline moves it."""
    store = StatusStore(bucket, bucket.layout.status_key("u", JOB))
    store.create(StatusManifest(job_id=JOB, user_id="u", manifest_key="m"))
    store.update(lambda s: running(s, input_key="in.mp4", stages=[], estimated_cost_usd=None))
    if state is JobState.CANCELLED:
        store.update(lambda s: cancelled(s, outputs={}, duration_s=1.0))
    elif state is JobState.SUCCEEDED:
        store.update(lambda s: succeeded(s, outputs={}, output_key="out.mp4", duration_s=1.0))
    return store


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_running_job_ends_as_each_ending_says(
    bucket: Bucket, settings: Settings, ending: str
) -> None:
    run = JobRun(store_in(bucket, JobState.RUNNING), settings)
    run.video_key = "in.mp4"
    assert ENDINGS[ending](run).state is FROM_RUNNING[ending]


@pytest.mark.parametrize("state", [JobState.CANCELLED, JobState.SUCCEEDED])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_finished_job_is_never_ended_again(
    bucket: Bucket, settings: Settings, state: JobState, ending: str
) -> None:
    """A cancelled job cannot be succeeded through a JobRun (nor a succeeded one failed,
    cancelled or set waiting): refused, and the status in the bucket is left as it was."""
    store = store_in(bucket, state)
    before = store.read()
    with pytest.raises(TransitionRefused):
        ENDINGS[ending](JobRun(store, settings))
    assert store.read() == before


def test_a_cancel_asked_before_success_is_written_cancels_the_job(
    bucket: Bucket, settings: Settings
) -> None:
    """The success is decided on the status as written: a cancel request another writer
    put there first wins, and the stages' outputs are kept."""
    store = store_in(bucket, JobState.RUNNING)
    run = JobRun(store, settings, video_key="out.mp4")
    other = StatusStore(bucket, store.key)
    other.update(cancel_requested)  # the owner's cancel, unseen by the run's store
    final = run.succeed(previews={"poster": "p.jpg"})
    assert final.state is JobState.CANCELLED
    assert "poster" not in final.outputs


def test_the_wait_for_a_clip_runs_out_into_a_failure(bucket: Bucket, settings: Settings) -> None:
    """Waiting longer than REELPIPE_INPUT_WAIT_S fails the job, saying how long it waited."""
    store = store_in(bucket, JobState.RUNNING)
    run = JobRun(store, settings)
    first = run.wait_for_input(InputNotFound("clips/a.mp4: not yet"))
    assert first.state is JobState.WAITING_FOR_INPUT
    past = utc_now() - timedelta(seconds=settings.leases.input_wait_s + 1)
    store.update(lambda s: s.model_copy(update={"waiting_since": past}))
    final = run.wait_for_input(InputNotFound("clips/a.mp4: not yet"))
    assert final.state is JobState.FAILED
    assert final.error is not None and "REELPIPE_INPUT_WAIT_S" in final.error.message

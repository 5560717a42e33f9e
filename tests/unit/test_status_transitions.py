"""Status transitions: the job's, the lease's and a stage's (segment progress, cost)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.core.errors import ErrorKind
from pipeline.core.machines import Rates
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.status import (
    ErrorInfo,
    JobState,
    Lease,
    StageState,
    StatusManifest,
    utc_now,
)
from pipeline.stages.base import (
    Call,
    ProgressShare,
    Segment,
    StageRequest,
    StageResult,
    progress_shares,
)
from pipeline.status.transitions import (
    call_progress,
    failed,
    handed_back,
    leased,
    overall_progress,
    requeued,
    running,
    stage_finished,
    stage_started,
    succeeded,
    with_stage,
)

SECOND_HALF = ProgressShare(0.5, 0.5)


def overlay_running(workers: int) -> StatusManifest:
    status = StatusManifest(job_id="j", user_id="u", manifest_key="m")
    status = with_stage(with_stage(status, StageName.FRAMING), StageName.OVERLAY)
    return stage_started(StageName.OVERLAY, SECOND_HALF, workers=workers)(status)


def overlay_part(segment: Segment) -> Call:
    params = OverlayParams.model_validate({"highlight": {"track_id": 1}})
    request = StageRequest(
        "u", "j", StageName.OVERLAY, "in.mp4", params, final=True,
        share=SECOND_HALF, segment=segment,
    )  # fmt: skip
    return Call.of(request)


def test_stage_progress_is_the_mean_of_its_segments() -> None:
    """Parts report independently; the stage and the bar follow their mean."""
    status = overlay_running(4)
    assert status.stages[StageName.OVERLAY].segments == [0.0] * 4
    status = call_progress(overlay_part(Segment(2, 4, 50, 75)), 1.0)(status)
    status = call_progress(overlay_part(Segment(0, 4, 0, 25)), 0.5)(status)
    overlay = status.stages[StageName.OVERLAY]
    assert overlay.segments == [50.0, 0.0, 100.0, 0.0]
    assert overlay.progress == pytest.approx(37.5)
    assert status.progress.percent == pytest.approx(3 + 95 * (1 + 0.375) / 2, abs=0.1)


def test_finishing_a_stage_adds_its_measured_cost() -> None:
    """GPU-seconds times the GPU's price, from the rates table, summed over the job."""
    status = overlay_running(2)
    result = StageResult(outputs={"video": "k"}, frames=10, backend="b", gpu_seconds=20.0, gpu="T4")
    rates = Rates(gpu_usd_per_s={"T4": 0.000463})
    status = stage_finished(StageName.OVERLAY, SECOND_HALF, result, 10.0, "key", rates)(status)
    assert status.gpu_seconds == pytest.approx(20.0)
    assert status.cost_usd == pytest.approx(20.0 * 0.000463)
    assert status.stages[StageName.OVERLAY].segments == []


def test_shares_follow_the_estimated_seconds() -> None:
    """A stage estimated at 8 s of a 10 s job gets 80% of the stages' part of the bar."""
    detect, overlay = progress_shares([8.0, 2.0])
    assert (detect.start, detect.width) == (0.0, 0.8)
    assert overlay.start == pytest.approx(0.8) and overlay.last
    half_detect = overall_progress(detect, 0.5, StageName.DETECT)
    assert half_detect.percent == pytest.approx(3 + 95 * 0.4, abs=0.1)
    assert overall_progress(overlay, 1.0, StageName.OVERLAY).message == "saving"
    assert overall_progress(detect, 1.0, StageName.DETECT).message == "detect 100%"


@pytest.mark.parametrize("weights", [[0.0, 1.0], [1.0, -1.0], [float("nan"), 1.0]])
def test_unknown_estimates_share_the_bar_equally(weights: list[float]) -> None:
    assert [s.width for s in progress_shares(weights)] == [0.5, 0.5]


def fresh() -> StatusManifest:
    return StatusManifest(job_id="j", user_id="u", manifest_key="m")


def test_job_transitions_return_validated_statuses() -> None:
    started = running(
        fresh(), input_key="in.mp4", stages=[StageName.OVERLAY], estimated_cost_usd=0.1
    )
    assert started.state is JobState.RUNNING and started.attempts == 1
    assert list(started.stages) == [StageName.OVERLAY]
    done = succeeded(started, outputs={"overlay.video": "k"}, output_key="k", duration_s=1.23456)
    assert done.state is JobState.SUCCEEDED and done.lease is None and done.duration_s == 1.235
    error = ErrorInfo(kind=ErrorKind.INVALID_PARAMS, message="no player there")
    broken = failed(started, error=error, stage=StageName.OVERLAY, duration_s=0.5)
    assert broken.state is JobState.FAILED and broken.error == error
    assert broken.stages[StageName.OVERLAY].state is StageState.FAILED
    with pytest.raises(ValidationError):  # a transition cannot write what the model refuses
        succeeded(started, outputs={"v": 3}, output_key="k", duration_s=1.0)  # type: ignore[dict-item]


def test_lease_transitions_count_epochs_deaths_crashes_and_handbacks() -> None:
    lease = Lease(owner="w", expires_at=utc_now())
    taken = leased(fresh(), lease, died=False)
    retaken = leased(taken, lease, died=True)
    assert (retaken.runs.epoch, retaken.runs.deaths) == (2, 1)
    assert handed_back(retaken, crashed=True).runs.crashes == 1
    running_job = running(retaken, input_key="k", stages=[], estimated_cost_usd=None)
    assert handed_back(running_job, crashed=False).runs.handbacks == 1
    assert handed_back(retaken, crashed=False).runs.handbacks == 0  # queued: it just waits
    crashed = handed_back(running_job, crashed=True)
    error = ErrorInfo(kind=ErrorKind.ENCODER_FAILED, message="x264 died", stage=None)
    again = requeued(failed(crashed, error=error, stage=None, duration_s=1.0), lease)
    assert again.state is JobState.QUEUED and again.attempts == 0
    assert (again.runs.epoch, again.runs.deaths, again.runs.crashes) == (2, 0, 0)


def test_status_fields_are_rebuilt_only_by_the_transitions() -> None:
    """``model_copy(update=...)`` with string keys on a status lives in one module."""
    root = Path(__file__).resolve().parents[2] / "pipeline"
    rebuilding = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"\b(status|s|runs|stage)\.model_copy\(update=", path.read_text())
    }
    assert rebuilding == set(), rebuilding

"""Status mutations: segment progress, measured cost."""

from __future__ import annotations

import pytest

from pipeline.manifests.job import StageName
from pipeline.manifests.status import StatusManifest
from pipeline.stages.base import ProgressShare, Segment, StageResult, progress_shares
from pipeline.status_updates import (
    overall_progress,
    segment_progress,
    stage_finished,
    stage_started,
)

SECOND_HALF = ProgressShare(0.5, 0.5)


def running(workers: int) -> StatusManifest:
    status = StatusManifest(job_id="j", user_id="u", manifest_key="m")
    status = status.with_stage(StageName.FRAMING).with_stage(StageName.OVERLAY)
    return stage_started(StageName.OVERLAY, SECOND_HALF, workers=workers)(status)


def test_stage_progress_is_the_mean_of_its_segments() -> None:
    """Parts report independently; the stage and the bar follow their mean."""
    status = running(4)
    assert status.stages[StageName.OVERLAY].segments == [0.0] * 4
    status = segment_progress(StageName.OVERLAY, SECOND_HALF, Segment(2, 4, 50, 75), 1.0)(status)
    status = segment_progress(StageName.OVERLAY, SECOND_HALF, Segment(0, 4, 0, 25), 0.5)(status)
    overlay = status.stages[StageName.OVERLAY]
    assert overlay.segments == [50.0, 0.0, 100.0, 0.0]
    assert overlay.progress == pytest.approx(37.5)
    assert status.progress.percent == pytest.approx(3 + 95 * (1 + 0.375) / 2, abs=0.1)


def test_finishing_a_stage_adds_its_measured_cost() -> None:
    """GPU-seconds times the machine's price, summed over the job's stages."""
    status = running(2)
    result = StageResult(outputs={"video": "k"}, frames=10, backend="b", gpu_seconds=20.0)
    status = stage_finished(StageName.OVERLAY, SECOND_HALF, result, 10.0, "key", 0.000463)(status)
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

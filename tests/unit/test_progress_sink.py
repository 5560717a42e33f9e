"""The one progress sink: throttled, best effort, and a lost lease stops the stage."""

from __future__ import annotations

import pytest

from pipeline.core.errors import LeaseLost, StorageUnavailable
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.status import StatusManifest
from pipeline.stages.base import Call, ProgressShare, Segment, StageRequest
from pipeline.status.progress import ProgressSink
from pipeline.status.store import Mutation
from pipeline.status.transitions import with_stage


def request(segment: Segment | None = None) -> Call:
    params = OverlayParams.model_validate({"highlight": {"track_id": 1}})
    return Call.of(
        StageRequest(
            "u", "j", StageName.OVERLAY, "in.mp4", params, final=True,
            share=ProgressShare(0.0, 1.0), segment=segment,
        )
    )  # fmt: skip


class Status:
    """A status written to through mutations, with a clock and optional failures."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        base = StatusManifest(job_id="j", user_id="u", manifest_key="m")
        self.current = with_stage(base, StageName.OVERLAY, segments=[0.0, 0.0])
        self.writes = 0
        self.fail_with = fail_with
        self.now = 0.0

    def write(self, mutation: Mutation) -> StatusManifest:
        if self.fail_with is not None:
            raise self.fail_with
        self.writes += 1
        self.current = mutation(self.current)
        return self.current


def test_writes_are_throttled_to_one_an_interval() -> None:
    status = Status()
    sink = ProgressSink(status.write, request(), 1.0, clock=lambda: status.now)
    for frame in range(100):  # 100 frames in 2.5 s
        status.now = frame * 0.025
        sink(frame / 100)
    assert status.writes == 3  # at 0, 1 and 2 s
    assert status.current.stages[StageName.OVERLAY].progress == 80.0


def test_a_segment_writes_its_own_part() -> None:
    status = Status()
    sink = ProgressSink(status.write, request(Segment(1, 2, 50, 100)), 1.0, lambda: 0.0)
    sink(0.5)
    assert status.current.stages[StageName.OVERLAY].segments == [0.0, 50.0]


def test_a_failed_write_is_tried_again_at_the_next_frame_and_never_raised() -> None:
    status = Status(fail_with=StorageUnavailable("the store is down"))
    sink = ProgressSink(status.write, request(), 1.0, clock=lambda: 0.0)
    sink(0.1)  # fails, quietly
    status.fail_with = None
    sink(0.2)  # same instant, but the failed write does not count against the throttle
    assert status.writes == 1


def test_a_lost_lease_is_raised() -> None:
    status = Status(fail_with=LeaseLost("taken over"))
    sink = ProgressSink(status.write, request(), 1.0, clock=lambda: 0.0)
    with pytest.raises(LeaseLost):
        sink(0.3)

"""Stage calls cross a process or Modal boundary as pydantic's own JSON of the dataclasses,
the parameters validated by the stage's own model."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipeline.core.errors import JobCancelled, LeaseLost, StageInterrupted
from pipeline.manifests.job import FramingParams, OverlayParams, StageName
from pipeline.manifests.status import Fence
from pipeline.runners.wire import (
    call_from_wire,
    call_to_wire,
    error_to_wire,
    is_failure,
    request_from_wire,
    request_to_wire,
    results_from_wire,
    results_to_wire,
)
from pipeline.stages.base import Call, ProgressShare, Segment, StageRequest, StageResult
from pipeline.stages.table import Artifact


def test_a_request_round_trips_through_json_with_typed_parameters() -> None:
    params = FramingParams.model_validate(
        {"aspect": "9:16", "speed": [{"start_s": 1, "end_s": 2, "factor": 0.5}]}
    )
    request = StageRequest(
        "u", "j", StageName.FRAMING, "users/u/in.mp4", params, final=False,
        upstream={StageName.DETECT: {Artifact.DETECTIONS: "users/u/jobs/j/detect/d.json"}},
        share=ProgressShare(0.25, 0.5), segment=Segment(1, 3, 30, 60, 5), fence=Fence("w", 4),
    )  # fmt: skip
    back = request_from_wire(json.loads(json.dumps(request_to_wire(request))))
    assert back == request
    assert isinstance(back.params, FramingParams)


def test_parameters_are_validated_by_the_stage_model() -> None:
    wire = request_to_wire(
        StageRequest("u", "j", StageName.FRAMING, "k", FramingParams(), final=True)
    )
    wire["params"] = {"aspect": "wide"}
    with pytest.raises(ValidationError, match="aspect"):
        request_from_wire(wire)


def test_a_fused_call_round_trips_as_one_shape() -> None:
    """A call of one stage and a fused call cross the boundary the same way."""
    framing = StageRequest("u", "j", StageName.FRAMING, "k", FramingParams(), final=False)
    overlay = StageRequest(
        "u", "j", StageName.OVERLAY, "k",
        OverlayParams.model_validate({"highlight": {"track_id": 1}}), final=True,
        share=ProgressShare(0.5, 0.5),
    )  # fmt: skip
    for call in (Call.of(framing), Call.of(framing, overlay)):
        back = call_from_wire(json.loads(json.dumps(call_to_wire(call))))
        assert back == call
        assert [type(r.params) for r in back.requests] == [type(r.params) for r in call.requests]


def test_a_previews_call_round_trips_with_its_cut() -> None:
    """A previews call crosses as its stage's request and the video it cuts, placed where
    the overlay chose; its cut comes back as a cut (the join's stays absent), so the far
    side runs the cut and not the stage."""
    overlay = StageRequest(
        "u", "j", StageName.OVERLAY, "k",
        OverlayParams.model_validate({"highlight": {"track_id": 1}}), final=True,
        fence=Fence("w", 2),
    )  # fmt: skip
    shown = {"best_frame": 41, "preview_window": [20, 65]}
    call = Call.of(overlay).cutting("users/u/jobs/j/upscale/video.mp4", shown)
    wire = json.loads(json.dumps(call_to_wire(call)))
    assert "join" not in wire
    back = call_from_wire(wire)
    assert back == call
    assert back.cut is not None and back.join is None
    assert back.cut.video_key == "users/u/jobs/j/upscale/video.mp4"
    assert back.cut.shown == shown
    assert not back.attempts_stages
    whole = call_from_wire(json.loads(json.dumps(call_to_wire(Call.of(overlay)))))
    assert whole.cut is None and whole.attempts_stages


def test_results_round_trip() -> None:
    result = StageResult(
        outputs={Artifact.VIDEO: "k"}, frames=90, backend="pyav-x264", gpu_seconds=1.5,
        warnings=("trim clamped",), details={"picked": {"track_id": 3}},
    )  # fmt: skip
    wire = results_to_wire([result, result])
    assert results_from_wire(json.loads(json.dumps(wire))) == [result, result]
    assert not is_failure(wire)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (StageInterrupted("stopping overlay at a frame boundary"), StageInterrupted),
        (JobCancelled("cancelled"), JobCancelled),
        (LeaseLost("taken over"), LeaseLost),
    ],
)
def test_a_stop_a_cancel_and_a_lost_lease_come_back_as_themselves(
    error: StageInterrupted | JobCancelled | LeaseLost, kind: type[Exception]
) -> None:
    """A segment process's stop is handed back by its caller, not recorded as a failure."""
    wire = json.loads(json.dumps(error_to_wire(error)))
    assert is_failure(wire)
    with pytest.raises(kind, match=str(error)):
        results_from_wire(wire)

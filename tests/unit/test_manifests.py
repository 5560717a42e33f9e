"""Manifests: valid documents round-trip; each invalid field is named in the error."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.job import (
    DetectParams,
    JobManifest,
    OverlayStyle,
    StageName,
    parse_job_manifest,
)
from pipeline.manifests.schema import json_schemas
from pipeline.manifests.status import JobState, StageState, StageStatus, StatusManifest
from pipeline.status.transitions import with_stage
from tests.factories import DOCUMENTED_MANIFEST


def test_the_issue_example_parses_and_round_trips() -> None:
    """The documented example is accepted and survives a JSON round trip unchanged."""
    manifest = parse_job_manifest(json.dumps(DOCUMENTED_MANIFEST))
    assert manifest.stages.requested() == [StageName.FRAMING, StageName.OVERLAY]
    assert manifest.stages.overlay is not None
    assert manifest.stages.overlay.style is OverlayStyle.SPOTLIGHT
    again = parse_job_manifest(manifest.model_dump_json())
    assert again == manifest


def test_stage_blocks_are_optional() -> None:
    """A stage runs only if its block is present."""
    manifest = parse_job_manifest({"schema_version": 1, "stages": {"framing": {}}})
    assert manifest.stages.requested() == [StageName.FRAMING]
    assert manifest.input_key is None


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENTED_MANIFEST)
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("schema_version", 2, "schema_version"),
        ("input_key", "../bob/clip.mp4", "input_key"),
        ("input_key", "/abs.mp4", "input_key"),
        ("stages.framing.trim.end_s", 1.0, "stages.framing.trim"),
        ("stages.framing.trim.start_s", -1, "stages.framing.trim.start_s"),
        ("stages.framing.crop.width", 4, "stages.framing.crop.width"),
        ("stages.framing.crop.x", "left", "stages.framing.crop.x"),
        ("stages.framing.speed.0.factor", 0, "stages.framing.speed.0.factor"),
        ("stages.framing.speed.0.end_s", 9.0, "stages.framing"),
        ("stages.overlay.style", "glow", "stages.overlay.style"),
        ("stages.overlay.highlight.boxes", [], "stages.overlay.highlight.boxes"),
        ("stages.overlay.highlight.boxes.1", [0, 1, 1, 1, 1], "stages.overlay.highlight.boxes"),
        ("stages.overlay.highlight.boxes.0", [0, 1, 1, -5, 1], "stages.overlay.highlight.boxes"),
        ("stages.overlay.highlight.boxes.0", [0, 1, 1], "stages.overlay.highlight.boxes.0"),
        ("stages.overlay.dim", 2, "stages.overlay.dim"),
        ("stages.framing.zoom", 2, "stages.framing.zoom"),
        ("extra", True, "extra"),
        ("stages", KeyError, "stages"),
    ],
)
def test_each_invalid_field_is_named(path: str, value: Any, named: str) -> None:
    """The error message names the offending field's path."""
    with pytest.raises(InvalidManifest) as info:
        parse_job_manifest(_with(path, value))
    assert named in str(info.value)


def test_overlapping_speed_segments_are_rejected() -> None:
    """Two speed segments may not cover the same time."""
    doc = _with(
        "stages.framing.speed",
        [{"start_s": 3, "end_s": 5, "factor": 2}, {"start_s": 4, "end_s": 6, "factor": 0.5}],
    )
    with pytest.raises(InvalidManifest, match="overlap"):
        parse_job_manifest(doc)


@pytest.mark.parametrize(
    ("stages", "order"),
    [
        ({"framing": {"aspect": "9:16", "follow": "action"}}, ["detect", "framing"]),
        ({"overlay": {"highlight": {"frame": 3, "x": 10, "y": 20}}}, ["detect", "overlay"]),
        ({"overlay": {"highlight": {"track_id": 4}}}, ["detect", "overlay"]),
        ({"framing": {"aspect": "9:16"}}, ["framing"]),
        ({"detect": {"backend": "motion"}}, ["detect"]),
        ({"overlay": {"highlight": {"boxes": [[0, 1, 1, 4, 4]]}}}, ["overlay"]),
        ({"framing": {"follow": "player", "player": {"track_id": 2}}}, ["detect", "framing"]),
        ({"framing": {"follow": "player", "player": {"boxes": [[0, 1, 1, 4, 4]]}}}, ["framing"]),
    ],
)
def test_detect_is_added_when_a_later_stage_needs_it(
    stages: dict[str, Any], order: list[str]
) -> None:
    """follow, a click or a track id bring detect in first; nothing else does."""
    manifest = parse_job_manifest({"stages": stages})
    assert [s.value for s in manifest.stages.requested()] == order


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"framing": {"crop": {"x": 0, "y": 0, "width": 90, "height": 160}, "aspect": "9:16"}},
         "either a fixed 'crop'"),
        ({"framing": {"aspect": "wide"}}, "stages.framing.aspect"),
        ({"overlay": {"highlight": {"frame": 3, "x": 10}}}, "a click needs all"),
        ({"overlay": {"highlight": {"track_id": 1, "boxes": [[0, 1, 1, 4, 4]]}}}, "exactly one"),
        ({"overlay": {"highlight": {}}}, "exactly one"),
        ({"detect": {"stride": 0}}, "stages.detect.stride"),
        ({"detect": {"backend": "magic"}}, "stages.detect.backend"),
        ({"framing": {"follow": "player"}}, "needs 'framing.player'"),
        ({"framing": {"player": {"track_id": 1}}}, "set both"),
    ],
)  # fmt: skip
def test_detection_driven_blocks_are_validated(block: dict[str, Any], message: str) -> None:
    """Conflicting or incomplete follow/highlight blocks are refused with the field named."""
    with pytest.raises(InvalidManifest, match=message):
        parse_job_manifest({"stages": block})


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"'])
def test_documents_that_are_not_objects_are_rejected(raw: bytes) -> None:
    """Garbage and non-object JSON fail with a clear message."""
    with pytest.raises(InvalidManifest, match="JSON"):
        parse_job_manifest(raw)


@pytest.mark.parametrize(
    ("block", "ok"),
    [({}, True), ({"scale": 4}, True), ({"scale": 3}, False), ({"backend": "gan"}, False)],
)
def test_upscale_block_is_validated(block: dict[str, Any], ok: bool) -> None:
    """Upscale accepts x2/x4 and the known backends only."""
    doc = {"schema_version": 1, "stages": {"upscale": block}}
    if ok:
        assert parse_job_manifest(doc).stages.requested() == [StageName.UPSCALE]
    else:
        with pytest.raises(InvalidManifest, match=r"stages\.upscale"):
            parse_job_manifest(doc)


def test_no_stage_at_all_is_rejected() -> None:
    """An empty stages block asks for nothing, which is an error."""
    with pytest.raises(InvalidManifest, match="no stage requested"):
        parse_job_manifest({"schema_version": 1, "stages": {}})


def test_status_manifest_round_trips_with_enums() -> None:
    """A status with stages and timestamps survives JSON and keeps its enum types."""
    status = with_stage(
        StatusManifest(job_id="0" * 20, user_id="u", manifest_key="k"),
        StageName.FRAMING,
        state=StageState.RUNNING,
        progress=42.0,
    )
    again = StatusManifest.model_validate_json(status.model_dump_json())
    assert again == status
    assert again.state is JobState.QUEUED
    assert again.stages[StageName.FRAMING] == StageStatus(state=StageState.RUNNING, progress=42.0)


def test_status_manifest_refuses_unknown_states() -> None:
    """A typo in a state fails at once."""
    doc = StatusManifest(job_id="0" * 20, user_id="u", manifest_key="k").model_dump(mode="json")
    doc["state"] = "done"
    with pytest.raises(ValueError, match="state"):
        StatusManifest.model_validate(doc)


def test_schemas_are_published() -> None:
    """Job and status schemas are JSON Schema objects that forbid unknown fields."""
    schemas = json_schemas()
    assert set(schemas) >= {"job", "status"}
    assert schemas["job"]["additionalProperties"] is False
    assert "stages" in schemas["job"]["properties"]
    assert "progress" in schemas["status"]["properties"]
    assert JobManifest.model_json_schema() == schemas["job"]


def test_following_a_player_defaults_to_the_overlay_highlight() -> None:
    """``follow: "player"`` alone follows whom the overlay highlights; an explicit
    ``player`` wins."""
    click = {"frame": 30, "x": 100.0, "y": 50.0}
    manifest = parse_job_manifest(
        {"stages": {"framing": {"follow": "player"}, "overlay": {"highlight": click}}}
    )
    assert manifest.stages.framing is not None and manifest.stages.framing.player is not None
    assert manifest.stages.framing.player.model_dump(exclude_none=True) == click
    own = parse_job_manifest(
        {
            "stages": {
                "framing": {"follow": "player", "player": {"track_id": 3}},
                "overlay": {"highlight": click},
            }
        }
    )
    assert own.stages.framing is not None and own.stages.framing.player is not None
    assert own.stages.framing.player.track_id == 3


def test_the_detect_stride_defaults_by_backend() -> None:
    """Every frame for motion (its cost is the decode), every other for yolo."""
    assert DetectParams().stride_for("motion") == 1
    assert DetectParams().stride_for("yolo") == 2
    assert DetectParams(stride=3).stride_for("motion") == 3

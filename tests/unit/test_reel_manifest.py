"""The reel manifest: the issue's example as written, clear errors, a published schema."""

from __future__ import annotations

import json

import pytest

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.reel import TransitionKind, parse_reel_manifest
from pipeline.manifests.schema import json_schemas

EXAMPLE = {
    "schema_version": 1,
    "reel": {
        "clips": [
            {
                "input_key": "clips/a.mp4",
                "moments": [{"start_s": 2, "end_s": 6}],
                "stages": {"overlay": {"highlight": {"frame": 40, "x": 300, "y": 200}}},
            },
            {"input_key": "clips/b.mp4", "moments": "auto"},
        ],
        "aspect": "9:16",
        "transition": {"kind": "crossfade", "duration_s": 0.5},
        "max_duration_s": 30,
        "loudness_lufs": -14,
    },
}


def test_the_example_parses_as_written() -> None:
    manifest = parse_reel_manifest(json.dumps(EXAMPLE))
    reel = manifest.reel
    assert [c.input_key for c in reel.clips] == ["clips/a.mp4", "clips/b.mp4"]
    assert reel.clips[1].moments == "auto" and reel.clips[0].stages.overlay is not None
    assert reel.transition.kind is TransitionKind.CROSSFADE and reel.transition.overlap_s == 0.5
    assert (reel.max_duration_s, reel.loudness_lufs, reel.true_peak_db) == (30, -14, -1.0)


def _with(**changes: object) -> dict[str, object]:
    doc = json.loads(json.dumps(EXAMPLE))
    doc["reel"].update(changes)
    return doc


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (
            _with(clips=[{"input_key": "a.mp4", "moments": [{"start_s": 2, "end_s": 2.4}]}]),
            r"clips\[0\]: the moment \[2, 2.4\) is no longer than the 0.5 s crossfade",
        ),
        (_with(transition={"kind": "crossfade", "duration_s": 2.0}, moment_s=2.0), "moment_s"),
        (_with(aspect="916"), "aspect must look like 9:16"),
        (_with(clips=[]), "clips"),
        (_with(clips=[{"input_key": "../x.mp4"}]), "input_key"),
        (_with(clips=[{"input_key": "a.mp4", "moments": []}]), "at least one range"),
        (_with(clips=[{"input_key": "a.mp4", "moments": [{"start_s": 5, "end_s": 2}]}]), "end_s"),
        (_with(transitions={"kind": "cut"}), "transition"),  # a typo: did you mean
        ({"schema_version": 1, "stages": {}}, "'reel' block"),
        (_with(player={"clip": 2, "frame": 0, "x": 1, "y": 1}), r"player.clip 2: the reel has 2"),
        (  # clip 0 lights its own overlay's player already
            _with(player={"clip": 0, "frame": 0, "x": 1, "y": 1}),
            r"clips\[0\]: the player is named twice",
        ),
        (
            _with(clips=[{"input_key": "a.mp4", "player": {"confirmed_track": {"track_id": 1}}}]),
            "confirmed_track",
        ),
    ],
)
def test_a_bad_reel_says_what_is_wrong(doc: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidManifest, match=says):
        parse_reel_manifest(doc)


def test_the_reel_schema_is_published() -> None:
    schema = json_schemas()["reel"]
    assert "reel" in schema["properties"]
    assert "Reel" in schema["$defs"] and "ReelClip" in schema["$defs"]


def test_a_players_reel_and_its_confirmed_track_are_in_the_schema() -> None:
    defs = json_schemas()["reel"]["$defs"]
    assert "player" in defs["Reel"]["properties"] and "ReelPlayer" in defs
    assert "player" in defs["ReelClip"]["properties"]
    assert set(defs["ConfirmedTrack"]["required"]) == {"track_id", "frame", "box"}

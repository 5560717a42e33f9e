"""A manifest's typo names the field it meant, at every level; other mistakes say how to
fix them, never a raw regex."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.field_hints import known_fields
from pipeline.manifests.job import JobManifest, parse_job_manifest

KEY = {"input_key": "clips/a.mp4"}


@pytest.mark.parametrize(
    ("doc", "says", "not_said"),
    [
        ({"stagse": {}}, "stagse: unknown field, did you mean 'stages'?", "stages: Field"),
        (
            {"stages": {"framming": {}}},
            "stages.framming: unknown field, did you mean 'framing'?",
            "",
        ),
        ({"stages": {"framing": {"trimm": {}}}}, "did you mean 'trim'?", ""),
        (
            {"stages": {"framing": {"trim": {"start_s": 0, "ends": 1}}}},
            "stages.framing.trim.ends: unknown field, did you mean 'end_s'?",
            "end_s: Field required",
        ),
        (
            {"stages": {"framing": {"speed": [{"start_s": 0, "end_s": 1, "factr": 0.5}]}}},
            "stages.framing.speed.0.factr: unknown field, did you mean 'factor'?",
            "factor: Field required",
        ),
        (
            {"stages": {"overlay": {"highlight": {"frame": 0, "track": 1}}}},
            "stages.overlay.highlight.track: unknown field, did you mean 'track_id'?",
            "",
        ),
        (
            {"stages": {"framing": {}}, "notify": {"urll": "https://a.example/h"}},
            "notify.urll: unknown field, did you mean 'url'?",
            "",
        ),
        (
            {"stages": {"framing": {}}, "evil": 1},
            "evil: Extra inputs are not permitted (known here: input_key, notify, "
            "schema_version, stages)",
            "did you mean",
        ),
        ({"stages": {"framing": {"aspect": "916"}}}, "aspect must look like 9:16", "[0-9]"),
        ({"stages": {"framing": {"aspect": "9:16:1"}}}, "aspect must look like 9:16", "[0-9]"),
    ],
)
def test_manifest_mistakes_say_how_to_fix_them(
    doc: dict[str, Any], says: str, not_said: str
) -> None:
    with pytest.raises(InvalidManifest) as raised:
        parse_job_manifest({**KEY, **doc})
    message = str(raised.value)
    assert says in message, message
    if not_said:
        assert not_said not in message, message


def test_a_good_aspect_still_parses_and_the_schema_keeps_its_pattern() -> None:
    manifest = parse_job_manifest({**KEY, "stages": {"framing": {"aspect": "9:16"}}})
    assert manifest.stages.framing is not None and manifest.stages.framing.aspect == "9:16"
    framing = JobManifest.model_json_schema()["$defs"]["FramingParams"]["properties"]
    assert "pattern" in str(framing["aspect"])


@pytest.mark.parametrize(
    ("where", "fields"),
    [
        ([], ["input_key", "notify", "schema_version", "stages"]),
        (["stages"], ["detect", "framing", "overlay", "upscale"]),
        (["stages", "framing", "speed", 0], ["end_s", "factor", "interpolate", "start_s"]),
        (["stages", "nowhere"], []),
    ],
)
def test_known_fields_at_each_level(where: list[int | str], fields: list[str]) -> None:
    assert known_fields(JobManifest, where) == fields

"""A reel's clip becomes a job with the reel's shape: its window follows the player it
lights, else the action it detects, else stays centred; a clip's own framing is kept."""

from __future__ import annotations

import pytest

from pipeline.jobs.reel_cut import stages_for
from pipeline.manifests.reel import parse_reel_manifest

CLICK = {"highlight": {"frame": 40, "x": 300, "y": 200}}


@pytest.mark.parametrize(
    ("stages", "framing"),
    [
        ({"overlay": CLICK}, {"aspect": "9:16", "follow": "player"}),
        ({"detect": {}}, {"aspect": "9:16", "follow": "action"}),
        (None, {"aspect": "9:16"}),
        ({"framing": {"aspect": "1:1"}}, {"aspect": "1:1"}),
    ],
)
def test_a_clip_is_framed_to_the_reel(
    stages: dict[str, object] | None, framing: dict[str, object]
) -> None:
    clip: dict[str, object] = {"input_key": "clips/a.mp4"}
    if stages is not None:
        clip["stages"] = stages
    reel = parse_reel_manifest({"reel": {"clips": [clip], "aspect": "9:16"}}).reel
    made = stages_for(reel.clips[0], reel)
    assert made is not None
    assert {k: v for k, v in made["framing"].items() if k in ("aspect", "follow")} == framing


def test_a_clip_without_stages_in_a_reel_without_a_shape_runs_nothing() -> None:
    reel = parse_reel_manifest({"reel": {"clips": [{"input_key": "clips/a.mp4"}]}}).reel
    assert stages_for(reel.clips[0], reel) is None

"""A reel's clip becomes a job with the reel's shape: its window follows the player it
lights, else the action it detects, else stays centred; a clip's own framing is kept."""

from __future__ import annotations

import pytest

from pipeline.detect.moments import FoundMoment
from pipeline.jobs.reel_cut import moments_with_the_player, stages_for
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
    made = stages_for(reel, 0)
    assert made is not None
    assert {k: v for k, v in made["framing"].items() if k in ("aspect", "follow")} == framing


def test_a_clip_without_stages_in_a_reel_without_a_shape_runs_nothing() -> None:
    reel = parse_reel_manifest({"reel": {"clips": [{"input_key": "clips/a.mp4"}]}}).reel
    assert stages_for(reel, 0) is None


def test_a_players_reel_lights_him_where_he_is_known_and_detects_the_other_clips() -> None:
    """The clicked clip lights him, a confirmed clip lights the confirmed track (a click
    on its box), a clip that does not know him yet detects (its tracks are offered)."""
    box = {"track_id": 4, "frame": 12, "box": [100, 50, 20, 60], "score": 0.9}
    reel = parse_reel_manifest(
        {
            "reel": {
                "clips": [
                    {"input_key": "clips/a.mp4"},
                    {"input_key": "clips/b.mp4"},
                    {"input_key": "clips/c.mp4", "player": {"confirmed_track": box}},
                ],
                "aspect": "9:16",
                "player": {"clip": 0, "frame": 40, "x": 300, "y": 200},
            }
        }
    ).reel
    clicked, unknown, confirmed = (stages_for(reel, i) for i in range(3))
    assert clicked is not None and unknown is not None and confirmed is not None
    assert clicked["overlay"]["highlight"] == {"frame": 40, "x": 300, "y": 200}
    assert confirmed["overlay"]["highlight"] == {"frame": 12, "x": 110, "y": 80}
    assert "overlay" not in unknown and unknown["detect"] == {}
    assert [s["framing"]["follow"] for s in (clicked, unknown, confirmed)] == [
        "player",
        "action",
        "player",
    ]


def test_a_players_moments_are_those_he_is_in_ranked_up_by_it() -> None:
    """Lit on seconds 0-3, lost from 4: the loud moment at 5-7 s is dropped, the two he
    is in are kept, the one he is in throughout first."""
    coverage = ("found", "found", "coasted", "found", "lost", "lost", "lost", "lost")
    found = [
        FoundMoment(5.0, 7.0, 3.0, ("loudness rise",)),  # the best sound, without him
        FoundMoment(3.0, 5.0, 1.0, ("motion",)),  # half with him
        FoundMoment(0.0, 2.0, 0.5, ("onsets",)),  # all with him
    ]
    kept = moments_with_the_player(found, coverage)
    assert [(m.start_s, m.end_s) for m in kept] == [(0.0, 2.0), (3.0, 5.0)]
    assert kept[0].reasons == ("onsets", "the player in it 100%")
    assert kept[0].score == pytest.approx(0.5 + 2.0)


@pytest.mark.parametrize(
    ("frames", "best", "poster", "preview"),
    [
        # three 90-frame pieces crossfaded over 6 frames: they start at 0, 84, 168
        ((90, 90, 90), 0, 42, (0, 84)),  # the first: up to where the next fades in
        ((90, 90, 90), 1, 129, (90, 168)),  # the middle: both crossfades left out
        ((90, 90, 90), 2, 216, (174, 258)),  # the last: from where it is alone to its end
        ((90, 300, 90), 1, 234, (189, 279)),  # a long piece: 3 s around its middle
    ],
)
def test_the_poster_and_preview_stay_inside_the_best_piece(
    frames: tuple[int, ...], best: int, poster: int, preview: tuple[int, int]
) -> None:
    from fractions import Fraction
    from pathlib import Path

    from pipeline.jobs.reel_cut import shown_in
    from pipeline.media.reel_assembly import Piece, ReelFormat

    pieces = [Piece(Path(f"{i}.mp4"), 0, n, True) for i, n in enumerate(frames)]
    fmt = ReelFormat(320, 180, Fraction(30), crossfade_s=0.2)
    shown = shown_in(pieces, best, fmt)
    assert (shown.poster_frame, shown.preview) == (poster, preview)

"""What the overlay draws for a followed player: inside the frame, smooth, held while he
is lost, faded in only where he is found, and never carried over a cut."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.boxes import Box
from pipeline.follow import highlight_path
from pipeline.follow.highlight_track import HighlightTrack
from pipeline.follow.pick import pick_track
from pipeline.manifests.job import Highlight
from tests.unit.test_follow_pick import H, N, W, doc_with, player


@pytest.mark.parametrize("highlight", [Highlight(track_id=1), Highlight(frame=10, x=115, y=5)])
def test_a_picked_box_past_the_top_edge_is_clamped_inside_the_frame(highlight: Highlight) -> None:
    """A blob reaching above the picture (y = -15.4) gives boxes inside it, the pick too."""
    doc = doc_with({i: [player(1, 100 + i, y=-15.4, h=80)] for i in range(N)})
    picked = pick_track(doc, highlight)
    assert picked.box.y == 0.0 and picked.box.h == pytest.approx(64.6, abs=0.5)
    for _, x, y, w, h in picked.keyframes:
        assert x >= 0 and y >= 0 and x + w <= W and y + h <= H


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        (Box(10, -15.4, 30, 80), Box(10, 0, 30, 64.6)),
        (Box(620, 300, 40, 100), Box(620, 300, 20, 60)),
        (Box(700, 10, 30, 80), None),
        (Box(5, 5, 10, 10), Box(5, 5, 10, 10)),
    ],
)
def test_a_drawn_box_is_cut_to_the_frame(box: Box, inside: Box | None) -> None:
    got = box.inside(W, H)
    assert (
        got == inside
        if inside is None or got is None
        else np.allclose([got.x, got.y, got.w, got.h], [inside.x, inside.y, inside.w, inside.h])
    )


def test_strength_fades_out_after_a_loss_in_where_he_is_found_and_stops_at_a_cut() -> None:
    present = [*range(0, 10), *range(30, 40), *range(50, 60)]
    light = highlight_path.strength(present, 70, bridge=2, fade=4.0, cuts=[50])
    assert light[9] == 1.0 and light[11] == 0.5 and light[13:30].max() == 0.0  # out
    assert light[30] == 0.25 and light[33] == 1.0  # in, from where he is found
    assert light[40] == 0.75 and light[50] == 1.0  # a shot opening on him: full at once
    assert highlight_path.strength([5], 10, bridge=0, fade=4.0, cuts=[3])[:6].max() == 0.25


def test_keyframes_hold_across_a_loss_and_interpolate_a_short_gap() -> None:
    boxes = np.full((20, 4), np.nan)
    boxes[[0, 2, 10]] = [[0, 0, 5, 5], [2, 0, 5, 5], [50, 0, 5, 5]]
    kf = highlight_path.held_keyframes(boxes, bridge=2)
    assert [k[0] for k in kf] == [0, 2, 9, 10] and kf[2][1] == 2  # held, then found
    track = HighlightTrack(kf)
    assert track.box_at(1) == Box(1, 0, 5, 5) and track.box_at(6) == Box(2, 0, 5, 5)


def test_box_keyframes_light_only_their_own_shots() -> None:
    track = HighlightTrack([(10, 0, 0, 5, 5), (20, 10, 0, 5, 5), (60, 30, 0, 5, 5)], cuts=[30, 50])
    assert track.box_at(0) == Box(0, 0, 5, 5) and track.box_at(29) == Box(10, 0, 5, 5)
    assert track.box_at(30) is None and track.box_at(49) is None
    assert track.box_at(50) == Box(30, 0, 5, 5) and track.box_at(99) == Box(30, 0, 5, 5)


def test_smoothing_removes_a_wobble_and_keeps_a_straight_walk() -> None:
    f = np.arange(40, dtype=np.float64)
    walk = np.column_stack([2 * f, np.full(40, 100.0), np.full(40, 20.0), np.full(40, 50.0)])
    wobble = walk.copy()
    wobble[::2, 0] += 3  # the detector's box jumps 3 px every other frame
    out = highlight_path.smoothed(wobble, cuts=[], sigma=2.0)
    second = np.abs(np.diff(out[5:-5, 0], n=2))
    assert second.max() < 0.2 < np.abs(np.diff(wobble[:, 0], n=2)).max()
    assert np.allclose(highlight_path.smoothed(walk, cuts=[20], sigma=2.0)[3:17], walk[3:17])


def test_coast_s_is_an_overlay_parameter_with_a_default_in_the_schema() -> None:
    """``coast_s`` (default 1 s) is validated and published like the other overlay fields."""
    from pipeline.manifests.job import OverlayParams
    from pipeline.manifests.schema import json_schemas

    assert OverlayParams(highlight=Highlight(track_id=1)).coast_s == 1.0
    with pytest.raises(ValueError):
        OverlayParams(highlight=Highlight(track_id=1), coast_s=-1)
    fields = json_schemas()["job"]["$defs"]["OverlayParams"]["properties"]
    assert fields["coast_s"]["default"] == 1.0

"""Spotlight: darkens outside the player, keeps him lit, rings his feet."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.boxes import Box
from pipeline.follow.highlight_track import HighlightTrack
from pipeline.manifests.job import OverlayStyle
from pipeline.manifests.timeline import FramingTimeline, Piece, Rect
from pipeline.media.frames import YuvFrame
from pipeline.render.spotlight import Spotlight


def grey_frame(width: int = 320, height: int = 180, luma: int = 180) -> YuvFrame:
    y = np.full((height, width), luma, np.uint8)
    c = np.full((height // 2, width // 2), 160, np.uint8)
    return YuvFrame.from_planes(0, y, c, c.copy())


def test_spotlight_darkens_outside_and_keeps_the_player_lit() -> None:
    """Far pixels are dimmed by ``dim`` in limited range; the box centre is untouched."""
    frame = grey_frame()
    Spotlight(OverlayStyle.SPOTLIGHT, dim=0.4).annotate(frame, Box(140, 40, 40, 100))
    expected_dark = round(16 + (180 - 16) * 0.4)
    assert frame.y[5, 5] == expected_dark
    assert frame.u[2, 2] == round(128 + (160 - 128) * 0.4)
    assert frame.y[90, 160] == 180
    assert frame.u[45, 80] == 160


def test_spotlight_edge_is_soft() -> None:
    """Brightness falls off gradually from the player to the dark area."""
    frame = grey_frame()
    Spotlight(OverlayStyle.SPOTLIGHT, dim=0.4).annotate(frame, Box(140, 40, 40, 100))
    row = frame.y[90, 160:320].astype(int)
    steps = np.diff(row)
    assert (steps <= 0).all()
    assert len(set(row.tolist())) > 5
    assert np.abs(steps).max() < 40


def test_ring_is_drawn_at_the_feet() -> None:
    """The ring style leaves the picture bright and marks the feet."""
    frame = grey_frame(luma=100)
    Spotlight(OverlayStyle.RING).annotate(frame, Box(140, 40, 40, 100))
    assert frame.y[5, 5] == 100
    ring_rows = frame.y[130:150, 100:220]
    assert ring_rows.max() > 150


def test_no_box_leaves_the_frame_untouched() -> None:
    """Without a player to follow nothing is drawn."""
    frame = grey_frame()
    before = frame.y.copy()
    Spotlight().annotate(frame, None)
    assert np.array_equal(frame.y, before)


def test_box_partly_outside_the_frame_is_clipped() -> None:
    """A player walking out of the picture is lit where he still is; a box far outside
    draws nothing out of bounds (the planes keep their size) and lights a clamped spot."""
    frame = grey_frame()
    Spotlight(dim=0.4).annotate(frame, Box(300, 150, 60, 100))
    dark = round(16 + (180 - 16) * 0.4)
    assert frame.y[175, 315] > dark  # his lit part, at the bottom-right corner
    assert frame.y[5, 5] == dark  # the far side of the picture is dimmed
    far = grey_frame()
    Spotlight(dim=0.4).annotate(far, Box(-500, -500, 10, 10))
    assert far.y.shape == (180, 320) and far.u.shape == (90, 160)
    assert far.y.min() >= 16 and far.y.max() <= 235


def test_highlight_keyframes_interpolate_and_hold() -> None:
    """Between keyframes the box moves linearly; outside them it holds."""
    track = HighlightTrack([(0, 600, 300, 80, 200), (60, 700, 310, 80, 200)])
    assert track.box_at(30) == Box(650, 305, 80, 200)
    assert track.box_at(90) == Box(700, 310, 80, 200)


def test_highlight_is_mapped_through_the_framing_timeline() -> None:
    """After trim 2 s and crop x=320, source frame 60 is output frame 0 at x-320."""
    timeline = FramingTimeline(
        source_width=1920,
        source_height=1080,
        source_fps=30,
        output_fps=30,
        crop=Rect(x=320, y=0, width=608, height=1080),
        pieces=[Piece(source_start_s=2, source_end_s=8, factor=1)],
    )
    track = HighlightTrack([(0, 600, 300, 80, 200), (120, 720, 300, 80, 200)], timeline)
    box = track.box_at(0)
    assert (box.x, box.y) == pytest.approx((660 - 320, 300))


def ring_pixels(frame: YuvFrame) -> int:
    return int(((frame.y > 200) & (frame.y < 220)).sum())


@pytest.mark.parametrize(
    "box",
    [Box(140, 80, 40, 100), Box(0, 40, 40, 100), Box(280, 40, 40, 100), Box(140, 90, 40, 100)],
)
def test_the_ring_stays_whole_inside_the_frame(box: Box) -> None:
    """Feet on the bottom edge or a player at the side: the ring moves in, never clipped."""
    middle, edge = grey_frame(luma=60), grey_frame(luma=60)
    Spotlight(OverlayStyle.RING).annotate(middle, Box(140, 40, 40, 100))
    Spotlight(OverlayStyle.RING).annotate(edge, box)
    assert ring_pixels(edge) == pytest.approx(ring_pixels(middle), rel=0.1)
    rows = np.where((edge.y > 200).any(axis=1))[0]
    columns = np.where((edge.y > 200).any(axis=0))[0]
    assert rows.max() < 179 and columns.min() > 0 and columns.max() < 319


def test_a_tiny_box_still_gets_a_spotlight_of_sensible_size() -> None:
    """A 10 px detection at 1080p lights an ellipse at least 12% of the height tall."""
    frame = grey_frame(width=1920, height=1080)
    Spotlight(OverlayStyle.SPOTLIGHT, dim=0.4).annotate(frame, Box(955, 535, 10, 10))
    assert frame.y[540 + 120, 960] == 180  # 0.11 of the height below the centre: still lit
    assert frame.y[540 + 400, 960] < 100


def test_the_spotlight_moves_inside_rather_than_being_cut() -> None:
    """A player at the top edge: the lit ellipse is shifted down, the player stays lit."""
    frame = grey_frame(width=640, height=360)
    Spotlight(OverlayStyle.SPOTLIGHT, dim=0.4).annotate(frame, Box(300, 0, 40, 100))
    assert frame.y[2, 320] == 180 and frame.y[98, 320] == 180
    lit_rows = np.where(frame.y[:, 320] == 180)[0]
    assert lit_rows.min() == 0


def test_the_soft_mask_is_the_textbook_ellipse() -> None:
    """The in-place mask equals ``clip((1 + edge - r) / edge, 0, 1)`` of the elliptic radius,
    at fractional centres and radii."""
    from pipeline.render.spotlight import SOFT_EDGE, _soft_ellipse

    for height, width, cx, cy, a, b in [
        (660, 444, 222.3, 330.7, 164.0, 244.5),
        (41, 30, 3.9, 40.2, 7.5, 11.0),
    ]:
        ys = (np.arange(height) - cy) / b
        xs = (np.arange(width) - cx) / a
        r = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
        expected = np.clip((1.0 + SOFT_EDGE - r) / SOFT_EDGE, 0.0, 1.0)
        got = _soft_ellipse(height, width, cx, cy, a, b)
        assert got.shape == (height, width)
        assert np.abs(got - expected).max() < 1e-5


def test_the_blend_rounds_as_the_float_formula() -> None:
    """The vectorised blend gives exactly ``dark + (original - dark) * mask + 0.5``, truncated."""
    from pipeline.render.spotlight import _blend, _lut

    rng = np.random.default_rng(7)
    original = rng.integers(0, 256, (300, 200), dtype=np.uint8)
    dark = _lut(16, 0.4)[original]
    mask = rng.random((300, 200), dtype=np.float32)
    mask[:50] = 1.0
    mask[50:100] = 0.0
    d, o = dark.astype(np.float32), original.astype(np.float32)
    expected = (d + (o - d) * mask + np.float32(0.5)).astype(np.uint8)
    plane = dark.copy()
    _blend(plane, original, mask)
    assert np.array_equal(plane, expected)


def test_a_reused_mask_draws_what_a_fresh_one_does() -> None:
    """One spotlight drawing a player who stands, moves and stands again draws each frame
    as a new spotlight would (the cached mask never outlives its geometry)."""
    rng = np.random.default_rng(3)
    boxes = [Box(400, 200, 60, 150)] * 3 + [
        Box(400 + 7.3 * i, 200.5, 60 + i, 150) for i in range(4)
    ]
    boxes += [Box(430, 210, 64, 150)] * 2
    kept = Spotlight(dim=0.4)
    for box in boxes:
        y = rng.integers(16, 236, (540, 960), dtype=np.uint8)
        c = rng.integers(16, 241, (270, 480), dtype=np.uint8)
        reused, fresh = (
            YuvFrame.from_planes(0, y, c, c.copy()),
            YuvFrame.from_planes(0, y, c, c.copy()),
        )
        kept.annotate(reused, box)
        Spotlight(dim=0.4).annotate(fresh, box)
        for plane in ("y", "u", "v"):
            assert np.array_equal(getattr(reused, plane), getattr(fresh, plane))

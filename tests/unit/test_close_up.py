"""A clicked person who fills the frame is lit by his whole extent; anyone else by his box.

The detections are drawn by hand: his face is a small box of its own (what moves
most) and the rest of him one blob wider than any plausible player, as the motion
backend sees a head-and-shoulders close-up.
"""

from __future__ import annotations

import numpy as np

from pipeline.follow.close_up import close_up_extent
from pipeline.follow.pick import pick_track
from pipeline.manifests.detections import Detections, Row, VideoFacts
from pipeline.manifests.job import Highlight

W, H, N = 640, 360, 50
FACE: Row = (0, 0.9, 1, 280.0, 60.0, 340.0, 130.0, 0)  # tracked: a plausible player's box


def body(bottom: float) -> Row:
    """His shoulders and chest: one blob from under his face down to ``bottom``."""
    return (0, 0.9, 2, 100.0, 130.0, 540.0, bottom, 0)


def doc_with(rows: list[Row]) -> Detections:
    return Detections(
        backend="motion",
        video=VideoFacts(width=W, height=H, fps=25.0, frame_count=N),
        classes=["moving"],
        frames=[list(rows) for _ in range(N)],
        ball=[None] * N,
        action=[None] * N,
    )


def lit_box(doc: Detections, frame: int) -> np.ndarray:
    """The box the light is drawn on at ``frame`` after a click on his face."""
    picked = pick_track(doc, Highlight(frame=10, x=310, y=95))
    keyframes = np.asarray(picked.keyframes, dtype=np.float64)
    return np.array([np.interp(frame, keyframes[:, 0], keyframes[:, k]) for k in (1, 2, 3, 4)])


def test_a_click_on_the_face_of_a_close_up_lights_the_whole_of_him() -> None:
    """His parts joined: face and shoulders, cut by the frame's bottom edge."""
    x, y, w, h = lit_box(doc_with([FACE, body(H)]), 30)
    assert np.allclose([x, y, x + w, y + h], [100, 60, 540, 360], atol=1.0)


def test_a_player_whose_box_joins_a_wide_blob_above_the_bottom_keeps_his_own_box() -> None:
    """The same blob, stopping short of the bottom edge: a crowd or a car beside him, not
    his shoulders in a close-up; the light is on his own box."""
    x, y, w, h = lit_box(doc_with([FACE, body(300.0)]), 30)
    assert np.allclose([x, y, w, h], [280, 60, 60, 70], atol=1.0)


def test_no_extent_is_given_where_the_follow_does_not_know_him() -> None:
    anchors = np.full((N, 4), np.nan)
    assert close_up_extent(doc_with([FACE, body(H)]), anchors, 10) is None
    anchors[10:20] = (280.0, 60.0, 60.0, 70.0)
    extent = close_up_extent(doc_with([FACE, body(H)]), anchors, 10)
    assert extent is not None
    assert np.isnan(extent[:10]).all() and np.isnan(extent[20:]).all()
    assert np.allclose(extent[15], [100, 60, 440, 300])

"""A pick is honest: only a plausible player is picked, a click on nothing says what it hit,
and where the player was seen, filled in or lost is reported per second."""

from __future__ import annotations

import pytest

from pipeline.core.boxes import Box
from pipeline.core.errors import StageParamsInvalid
from pipeline.follow.pick import FILLED, LOST, SEEN, coverage, pick_track
from pipeline.manifests.detections import Detections, Row, VideoFacts
from pipeline.manifests.job import Highlight

W, H, N = 640, 360, 50


def doc_with(rows_per_frame: dict[int, list[Row]]) -> Detections:
    frames = [rows_per_frame.get(i, []) for i in range(N)]
    return Detections(
        backend="motion",
        video=VideoFacts(width=W, height=H, fps=25.0, frame_count=N),
        classes=["moving"],
        frames=frames,
        ball=[None] * N,
        action=[None] * N,
    )


def player(
    track: int, x: float, y: float = 100, w: float = 30, h: float = 80, interp: int = 0
) -> Row:
    return (0, 0.9, track, x, y, x + w, y + h, interp)


BLOB: Row = (0, 0.9, 9, 0.0, 0.0, 600.0, 350.0, 0)  # a frame-sized blob (a cut, a flash)


def test_a_click_on_a_frame_sized_blob_is_refused_and_says_why() -> None:
    doc = doc_with({i: [BLOB] for i in range(N)})
    with pytest.raises(StageParamsInvalid) as refused:
        pick_track(doc, Highlight(frame=10, x=300, y=170))
    message = str(refused.value)
    assert "no player at (300, 170) near frame 10" in message
    assert "600x350" in message and "too large" in message


def test_a_plausible_player_is_picked_over_a_blob_under_the_click() -> None:
    """The blob covers the click; the player within reach is the pick."""
    doc = doc_with({i: [BLOB, player(1, 280 + i)] for i in range(N)})
    picked = pick_track(doc, Highlight(frame=10, x=300, y=140))
    assert picked.track_id == 1 and picked.frame == 10
    assert picked.box == Box(290.0, 100.0, 30.0, 80.0)


@pytest.mark.parametrize(
    ("w", "h"),
    [(400, 300), (80, 20), (30, 4), (30, 350)],  # too wide; lying flat; tiny; taller than frame
)
def test_boxes_of_no_person_shape_are_not_picked(w: float, h: float) -> None:
    doc = doc_with({i: [player(1, 100, 0, w, h)] for i in range(N)})
    with pytest.raises(StageParamsInvalid):
        pick_track(doc, Highlight(frame=5, x=100 + w / 2, y=min(h, H) / 2))


def test_seen_filled_and_lost_frames_are_told_apart() -> None:
    """Detected on 0-19, filled in on 20-21, gone from 22 on."""
    rows = {i: [player(1, 100)] for i in range(20)}
    rows.update({i: [player(1, 100, interp=1)] for i in (20, 21)})
    picked = pick_track(doc_with(rows), Highlight(track_id=1))
    assert (picked.seen[:20] == SEEN).all()
    assert (picked.seen[20:22] == FILLED).all()
    assert (picked.seen[40:] == LOST).all()


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        ([SEEN] * 50, ["found", "found"]),
        ([SEEN] * 25 + [LOST] * 25, ["found", "lost"]),
        ([FILLED] * 20 + [SEEN] * 5 + [LOST] * 10, ["coasted", "lost"]),
        ([], []),
    ],
)
def test_coverage_is_one_word_per_second(seen: list[int], expected: list[str]) -> None:
    assert coverage(seen, 25.0) == expected


def test_a_click_on_a_frame_filled_in_between_detections_is_followed() -> None:
    """With stride 2 the clicked frame may hold only a tracker's fill-ins: the pick still
    works (from the nearest tracked box) and the follow starts without colours."""
    detected = [(0, 0.9, 1, 100.0, 50.0, 130.0, 130.0, 0)]
    filled = [(0, 0.9, 1, 102.0, 50.0, 132.0, 130.0, 1)]
    frames = [detected if i % 2 == 0 else filled for i in range(20)]
    doc = Detections(
        backend="motion", stride=2, classes=["moving"],
        video=VideoFacts(width=320, height=180, fps=10.0, frame_count=20),
        frames=frames, ball=[None] * 20, action=[None] * 20,
    )  # fmt: skip
    picked = pick_track(doc, Highlight(frame=5, x=117.0, y=90.0))
    assert picked.frame == 5
    assert (picked.strength == 1.0).all()


def _walking_left(until: int, hidden: range = range(0)) -> dict[int, list[Row]]:
    """A player clicked at frame 10, walking left 8 px a frame from x = 200 and seen
    until ``until`` (not on ``hidden`` frames)."""
    return {i: [player(1, 200 - 8 * i)] for i in range(until) if i not in hidden}


def test_a_player_who_walks_out_of_the_picture_is_not_lit_on_its_edge() -> None:
    """Seen until his box reaches the left edge (frame 25, x = 0): the light is off from
    the next frame, not coasting on the empty edge nor fading there."""
    picked = pick_track(doc_with(_walking_left(26)), Highlight(frame=10, x=135, y=140))
    assert picked.strength[25] == 1.0
    assert (picked.strength[26:] == 0).all(), picked.strength[24:32]
    assert (picked.seen[26:] == LOST).all()


def test_a_player_hidden_inside_the_picture_still_coasts() -> None:
    """The same walk, hidden on frames 15-18 in the middle of the frame: the light coasts
    on his path there (on, filled in) and he is found again after it."""
    picked = pick_track(
        doc_with(_walking_left(24, hidden=range(15, 19))), Highlight(frame=10, x=135, y=140)
    )
    assert (picked.strength[15:19] > 0).all()
    assert (picked.seen[15:19] == FILLED).all()
    assert (picked.seen[19:24] == SEEN).all()


def test_a_prediction_that_coasts_out_of_the_picture_ends_the_light() -> None:
    """Lost at x = 40 (frame 21), still walking left: the light coasts on his path, and
    goes off once less than half of the predicted box is inside the picture (frame 27),
    not clamped to the edge for the rest of the coast."""
    picked = pick_track(doc_with(_walking_left(21)), Highlight(frame=10, x=135, y=140))
    assert (picked.strength[21:24] > 0).all()
    assert (picked.strength[27:] == 0).all(), picked.strength[20:34]

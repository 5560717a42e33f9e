"""Following a clicked player through detections whose ids fragment, through an occlusion
and a crossing, and never across a cut."""

from __future__ import annotations

import numpy as np

from pipeline.core.boxes import Box
from pipeline.follow.player import FILLED, LOST, SEEN, FollowStart, follow_player
from pipeline.manifests.detections import Detections, Row, VideoFacts

W, H, N = 640, 360, 60


def doc_with(rows: dict[int, list[Row]], shots: list[int] | None = None) -> Detections:
    return Detections(
        backend="motion",
        video=VideoFacts(width=W, height=H, fps=30.0, frame_count=N),
        classes=["moving"],
        frames=[rows.get(i, []) for i in range(N)],
        ball=[None] * N,
        action=[None] * N,
        shots=shots or [],
    )


def box(track: int, x: float, y: float = 150.0) -> Row:
    return (0, 0.9, track, x, y, x + 30, y + 80, 0)


def test_ids_that_change_every_few_frames_are_followed_as_one_player() -> None:
    rows = {f: [box(f // 3, 100 + 4 * f)] for f in range(N)}  # a new id every 3 frames
    followed = follow_player(doc_with(rows), FollowStart(30, Box(220.0, 150.0, 30.0, 80.0)))
    assert (followed.seen == SEEN).all()
    assert np.allclose(followed.boxes[:, 0], 100 + 4 * np.arange(N), atol=1.0)


def test_a_short_occlusion_is_bridged_and_the_player_found_again() -> None:
    rows = {f: [box(1, 100 + 4 * f)] for f in range(N) if not 30 <= f < 36}
    followed = follow_player(doc_with(rows), FollowStart(10, Box(140.0, 150.0, 30.0, 80.0)))
    assert (followed.seen[30:36] == FILLED).all()  # coasted on the prediction
    assert abs(followed.boxes[33, 0] - (100 + 4 * 33)) < 8
    assert (followed.seen[36:] == SEEN).all()


def test_a_crossing_keeps_the_player_moving_the_same_way() -> None:
    """Two players pass each other; the follow keeps to the one moving right."""
    rows = {f: [box(1, 100 + 6 * f), box(2, 460 - 6 * f)] for f in range(N)}
    followed = follow_player(doc_with(rows), FollowStart(0, Box(100.0, 150.0, 30.0, 80.0)))
    assert np.allclose(followed.boxes[:, 0], 100 + 6 * np.arange(N), atol=1.0)


def test_a_player_gone_too_long_is_lost_then_found_again() -> None:
    rows = {f: [box(1, 300)] for f in range(N) if not 20 <= f < 45}
    followed = follow_player(doc_with(rows), FollowStart(5, Box(300.0, 150.0, 30.0, 80.0)))
    assert (followed.seen[20:35] == FILLED).all() and (followed.seen[36:45] == LOST).all()
    assert (followed.seen[45:] == SEEN).all()


def test_the_follow_ends_at_a_cut() -> None:
    rows = {f: [box(1, 300)] for f in range(N)}
    followed = follow_player(
        doc_with(rows, shots=[40]), FollowStart(10, Box(300.0, 150.0, 30.0, 80.0))
    )
    assert (followed.seen[:40] == SEEN).all() and (followed.seen[40:] == LOST).all()

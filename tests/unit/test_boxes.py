"""Box and Boxes: one shape for a box, columns read by name, masks select boxes."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.boxes import Box, Boxes

ROWS = np.array(
    [
        [0, 0.9, 7, 10.0, 20.0, 40.0, 100.0, 0],  # a player, tracked
        [1, 0.4, -1, 300.0, 50.0, 306.0, 56.0, 1],  # a ball, filled in
        [0, 0.8, 8, 100.0, 20.0, 150.0, 120.0, 0],
    ]
)


def test_rows_become_named_columns_and_back() -> None:
    boxes = Boxes.from_rows(ROWS)
    assert len(boxes) == 3
    assert boxes.tracker_id.tolist() == [7, -1, 8]
    assert boxes.interpolated.tolist() == [False, True, False]
    assert boxes.widths.tolist() == [30.0, 6.0, 50.0]
    assert np.array_equal(boxes.rows(), ROWS)


def test_a_mask_selects_every_column_alike() -> None:
    looks = np.eye(3)
    boxes = Boxes.from_rows(ROWS, looks)
    players = boxes[boxes.class_id == 0]
    assert players.tracker_id.tolist() == [7, 8]
    assert np.array_equal(players.looks, looks[[0, 2]])
    assert players.box(1) == Box(100.0, 20.0, 50.0, 100.0)
    assert len(boxes[boxes.confidence > 2]) == 0


def test_points_on_and_near_boxes() -> None:
    boxes = Boxes.from_rows(ROWS)
    assert boxes.contain(20, 50).tolist() == [True, False, False]
    assert boxes.distance_to(45, 20).tolist() == pytest.approx([5.0, np.hypot(255, 30), 55.0])
    assert boxes.distance_to(20, 50)[0] == 0.0
    assert boxes.apart_from(Box(0, 0, 50, 50)).tolist() == [False, True, True]


def test_concatenated_boxes_keep_their_order_and_looks() -> None:
    a = Boxes.from_rows(ROWS[:1], np.ones((1, 4)))
    b = Boxes([[1, 2, 3, 4]], tracker_id=[-2], looks=np.zeros((1, 4)))
    both = Boxes.concatenate([a, b, Boxes.empty(4)])
    assert both.tracker_id.tolist() == [7, -2]
    assert both.looks.shape == (2, 4)
    assert both.box(1) == Box(1, 2, 2, 2)


def test_a_box_cut_to_the_frame() -> None:
    assert Box(-10, 5, 30, 20).inside(100, 100) == Box(0, 5, 20, 20)
    assert Box(120, 5, 30, 20).inside(100, 100) is None
    assert Box(0, 0, 10, 10).clamp_point(20, -5) == (10, 0)
    assert Box.corners(1, 2, 5, 8).centre == (3.0, 5.0)


def test_looks_of_the_wrong_count_are_refused() -> None:
    with pytest.raises(ValueError, match="3 boxes need 3 looks"):
        Boxes.from_rows(ROWS, np.zeros((2, 4)))

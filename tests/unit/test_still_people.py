"""Fragments of a person join into one upright box, side-by-side blobs never do; a person
who stops moving is held by his look, and let go when he leaves or nothing moves in him."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detect.person_shape import upright_groups
from pipeline.detect.still_hold import HoldConfig, StillHold

FRAME = (320, 180)  # width, height


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        # head, torso, legs of one person: one box around all three
        ([(102, 40, 114, 52), (96, 54, 120, 80), (98, 82, 118, 110)], [(96, 40, 120, 110)]),
        # two players side by side: never one box
        ([(100, 60, 112, 100), (118, 60, 130, 100)], None),
        # two whole players one behind the other: the union would be too thin
        ([(100, 20, 112, 60), (100, 62, 112, 102)], None),
        # a player in front of another, a step nearer: two whole people, two boxes
        ([(100, 30, 116, 70), (98, 50, 116, 96)], None),
        # a player and the car beside him: kept apart (the union is too wide)
        ([(100, 60, 112, 100), (104, 70, 190, 110)], None),
    ],
)
def test_upright_groups(
    fragments: list[tuple[int, int, int, int]], expected: list[tuple[int, ...]] | None
) -> None:
    """Each row: the fragments, and the boxes they become (None: unchanged)."""
    xyxy = np.array(fragments, dtype=np.float64)
    areas = 0.6 * (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    boxes, pixels, parts = upright_groups(xyxy, areas, FRAME)
    want = xyxy if expected is None else np.array(expected, dtype=np.float64)
    assert sorted(map(tuple, boxes)) == sorted(map(tuple, want))
    assert pixels.sum() == pytest.approx(areas.sum())
    assert parts.sum() == len(fragments)


def scene(seed: int = 1) -> np.ndarray:
    """A textured grey frame."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(60, 200, (FRAME[1] // 4, FRAME[0] // 4), dtype=np.uint8)
    result: np.ndarray = np.kron(blocks, np.ones((4, 4), dtype=np.uint8))
    return result


PERSON = np.array([150.0, 60.0, 166.0, 110.0])


def with_person(grey: np.ndarray) -> np.ndarray:
    out = grey.copy()
    x1, y1, x2, y2 = PERSON.astype(int)
    out[y1:y2, x1:x2] = 30
    out[y1 + 5 : y1 + 15, x1 + 4 : x2 - 4] = 220  # a face, a shirt: some texture of his own
    out[y1 + 25 : y1 + 35, x1 : x1 + 6] = 120
    return out


def seen_walking_in(hold: StillHold, grey: np.ndarray) -> None:
    """Three frames with his box found by motion (he arrives), then he stops."""
    for _ in range(3):
        hold.update(grey, PERSON[None], np.array([0.8]))


def test_a_player_who_stops_is_held_by_his_look() -> None:
    """No motion box any more: his box comes back, at his place, for a while."""
    hold, grey = StillHold(HoldConfig(hold_frames=10)), with_person(scene())
    seen_walking_in(hold, grey)
    for _ in range(10):
        boxes, scores = hold.update(grey, np.empty((0, 4)), np.empty(0))
        assert len(boxes) == 1 and np.abs(boxes[0] - PERSON).max() <= 1, boxes
        assert scores[0] == pytest.approx(HoldConfig().score)
    boxes, _ = hold.update(grey, np.empty((0, 4)), np.empty(0))
    assert not len(boxes)  # nothing moved in him for hold_frames: let go (a ghost, a poster)


def test_a_moving_part_inside_keeps_him_and_is_folded_into_him() -> None:
    """His arm moving is one of his parts: one box (his), held on."""
    hold, grey = StillHold(HoldConfig(hold_frames=3)), with_person(scene())
    seen_walking_in(hold, grey)
    arm = np.array([[150.0, 84.0, 156.0, 94.0]])
    for _ in range(8):
        boxes, _ = hold.update(grey, arm, np.array([0.5]))
        assert len(boxes) == 1 and np.abs(boxes[0] - PERSON).max() <= 1, boxes


def test_he_is_let_go_when_he_leaves_and_at_a_cut() -> None:
    """The place without him does not match his look; a cut forgets everyone."""
    hold, grey = StillHold(), with_person(scene())
    seen_walking_in(hold, grey)
    boxes, _ = hold.update(scene(), np.empty((0, 4)), np.empty(0))
    assert not len(boxes)
    seen_walking_in(hold, grey)
    hold.clear()
    boxes, _ = hold.update(grey, np.empty((0, 4)), np.empty(0))
    assert not len(boxes)


def test_a_flicker_is_never_held() -> None:
    """A box seen once (a reflection) is not remembered."""
    hold, grey = StillHold(), with_person(scene())
    hold.update(grey, PERSON[None], np.array([0.8]))
    boxes, _ = hold.update(grey, np.empty((0, 4)), np.empty(0))
    assert not len(boxes)

"""Following a patch of pixels: it keeps up with a moving player, holds through a short
occlusion and finds him again after it."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.boxes import Box
from pipeline.follow.look import TemplateFollower


def scene(player_x: int, hidden: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)  # the same background every frame
    frame = rng.integers(40, 120, (120, 240, 3), dtype=np.uint8)
    player = np.zeros((40, 14, 3), np.uint8)
    player[:10] = (180, 150, 120)  # head
    player[10:26] = (30, 40, 200)  # shirt
    player[26:] = (20, 20, 20)  # shorts and legs
    frame[40:80, player_x : player_x + 14] = player
    if hidden:
        frame[30:90, 100:140] = (200, 200, 200)  # a post in front of him
    return frame


def test_the_template_keeps_up_with_a_walking_player() -> None:
    follower = TemplateFollower(scene(20), Box(20, 40, 14, 40))
    for x in range(23, 80, 3):
        found = follower.update(scene(x))
        assert found is not None and found[0] == pytest.approx(x, abs=1)
        assert found[1] == pytest.approx(40, abs=1)


def test_a_hidden_player_is_held_and_found_again() -> None:
    follower = TemplateFollower(scene(90), Box(90, 40, 14, 40))
    assert follower.update(scene(104, hidden=True)) is None  # behind the post
    assert follower.box[0] == 90  # the last place is kept meanwhile
    found = follower.update(scene(96))  # steps back out
    assert found is not None and found[0] == pytest.approx(96, abs=1)


def test_a_box_too_small_to_follow_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        TemplateFollower(scene(20), Box(20, 40, 2, 3))

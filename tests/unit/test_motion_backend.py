"""The motion backend under a moving camera, a passing bus and a hard cut (frames made
here with numpy: a textured pitch and two walking players)."""

from __future__ import annotations

import numpy as np

from pipeline.detect.motion import MotionDetector

W, H = 320, 180


def pitch(seed: int, width: int = W + 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(60, 200, (H // 4, width // 4, 3), dtype=np.uint8)
    blocks[..., 1] = np.maximum(blocks[..., 1], 120)  # green-ish grass
    return np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))


def players_at(frame: int) -> list[tuple[int, int]]:
    """Top-left corners of two 10x28 players walking right."""
    return [(60 + frame, 80), (200 + frame // 2, 100)]


def render(world: np.ndarray, frame: int, pan: int = 0, bus: int | None = None) -> np.ndarray:
    """The view at ``frame``; ``bus``: the left end of a bus driving past, close up."""
    view = world[:, pan : pan + W].copy()
    for x, y in players_at(frame):
        view[y : y + 28, x : x + 10] = (200, 30, 30)
    if bus is not None:
        view[20:170, max(0, bus) : max(0, bus + 260)] = (150, 150, 160)
    return view


def found_players(detector: MotionDetector, image: np.ndarray, frame: int) -> int:
    """How many players have a box whose centre is within 8 px of theirs."""
    (found,) = detector.detect([image])
    centres = (found.xyxy[:, :2] + found.xyxy[:, 2:]) / 2
    hits = 0
    for x, y in players_at(frame):
        if len(centres) and np.hypot(*(centres - (x + 5, y + 14)).T).min() <= 8:
            hits += 1
    return hits


def test_a_panning_camera_does_not_turn_the_pitch_into_motion() -> None:
    world, detector = pitch(1), MotionDetector(input_width=W)
    for f in range(60):
        image = render(world, f, pan=2 * f)  # 2 px a frame
        (found,) = detector.detect([image])
        widths = found.xyxy[:, 2] - found.xyxy[:, 0]
        assert f < 5 or (widths < W / 3).all(), (f, widths)
    last = render(world, 60, pan=120)
    assert found_players(detector, last, 60) == 2


def test_a_bus_passing_close_to_the_camera_is_not_a_cut() -> None:
    world, detector = pitch(2), MotionDetector(input_width=W)
    detector.prime([world[:, :W].copy()] * 3)  # the empty pitch
    for f in range(20):
        detector.detect([render(world, f)])
    for f in range(20, 40):  # drives past from the right: most of the frame hidden a while
        detector.detect([render(world, f, bus=W - 30 * (f - 20))])
    # The background was kept: the players are found at once, not absorbed into it.
    assert found_players(detector, render(world, 40), 40) == 2


def test_a_hard_cut_starts_the_background_again() -> None:
    first, second = pitch(3), (pitch(4) * 0.6).astype(np.uint8)  # another camera, darker
    detector = MotionDetector(input_width=W)
    for f in range(20):
        detector.detect([render(first, f)])
    (at_cut,) = detector.detect([render(second, 20)])
    assert len(at_cut.scores) == 0  # the new shot's first frame starts its background
    for f in range(21, 35):
        detector.detect([render(second, f)])
    assert found_players(detector, render(second, 35), 35) == 2

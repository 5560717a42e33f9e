"""The 9:16 follow camera: the whole box in the window, leading the motion, cut at cuts."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.follow.camera_path import (
    CameraLimits,
    CameraView,
    crop_path,
    keyframe_targets,
    window_size,
)
from pipeline.media.sample import SampleTruth, Scene, write_sample_clip

W, H, FPS = 640, 360, 30
WIN_W, WIN_H = window_size(W, H, 9 / 16)


@pytest.fixture(scope="module")
def panning(tmp_path_factory: pytest.TempPathFactory) -> SampleTruth:
    """A generated 4 s game filmed by a panning camera: where every player really is."""
    clip = tmp_path_factory.mktemp("pan") / "pan.mp4"
    return write_sample_clip(clip, width=W, height=H, duration_s=4.0, scene=Scene(pan=0.1))


@pytest.fixture(scope="module")
def panning_cut(tmp_path_factory: pytest.TempPathFactory) -> SampleTruth:
    """The same, cut to a second camera at 2 s (everyone mirrored: the player jumps)."""
    clip = tmp_path_factory.mktemp("pan-cut") / "pan-cut.mp4"
    scene = Scene(pan=0.1, cut_at_s=2.0)
    return write_sample_clip(clip, width=W, height=H, duration_s=4.0, scene=scene)


def follow(boxes: np.ndarray, cuts: list[int] | None = None) -> np.ndarray:
    """The camera's path following one player's true ``[x, y, w, h]`` per frame."""
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    return crop_path(
        centres, CameraView(W, H, WIN_W, WIN_H, float(FPS)), cuts=cuts, sizes=boxes[:, 2:]
    )


def inside(path: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per frame, whether the whole box is inside the window."""
    x, y = path[:, 0], path[:, 1]
    return (
        (boxes[:, 0] >= x)
        & (boxes[:, 0] + boxes[:, 2] <= x + WIN_W)
        & (boxes[:, 1] >= y)
        & (boxes[:, 1] + boxes[:, 3] <= y + WIN_H)
    )


def jerk_p95(x: np.ndarray) -> float:
    """95th percentile jerk in window widths per s^3, over 5 frames (as the bench does:
    the corners are even pixels, and a 2 px step is no jerk anyone sees)."""
    smooth = np.convolve(np.pad(x.astype(np.float64), 2, mode="edge"), np.ones(5) / 5, "valid")
    return float(np.percentile(np.abs(np.diff(smooth, 3)) * FPS**3 / WIN_W, 95))


def test_on_a_pan_every_players_whole_box_stays_in_the_window(panning: SampleTruth) -> None:
    """Each player followed by his true positions: his whole box is inside the 9:16
    window on >= 95% of the frames he is in the picture."""
    for player in range(panning.boxes.shape[1]):
        boxes = panning.boxes[:, player]
        seen = (boxes[:, 0] >= 0) & (boxes[:, 0] + boxes[:, 2] <= W)
        share = inside(follow(boxes), boxes)[seen].mean()
        assert share >= 0.95, f"player {player}: whole box inside on {share:.0%}"


def test_the_window_leads_a_moving_player_instead_of_lagging(panning: SampleTruth) -> None:
    """While a player moves, the window's centre is ahead of him (room where he is
    going) on most frames; a follower that chases him is behind him on nearly all."""
    ahead = []
    for player in range(panning.boxes.shape[1]):
        boxes = panning.boxes[:, player]
        centre = boxes[:, 0] + boxes[:, 2] / 2
        velocity = np.gradient(centre)
        moving = np.abs(velocity) > 0.5  # px per frame
        if moving.sum() < 10:
            continue
        offset = follow(boxes)[:, 0] + WIN_W / 2 - centre
        ahead.append(np.mean(np.sign(offset[moving]) == np.sign(velocity[moving])))
    assert len(ahead) >= 5
    assert np.mean(ahead) >= 0.5, f"ahead of the player on {np.mean(ahead):.0%} of frames"


@pytest.mark.parametrize(
    ("width_share", "speed"),  # of the window; windows per second at the fastest
    [(0.5, 1.0), (0.7, 1.25), (0.85, 0.6)],
)
def test_a_wide_box_moving_fast_stays_whole_in_the_window(width_share: float, speed: float) -> None:
    """A player who fills most of the window and runs to and fro (a close-up on a pan):
    the window holds his whole box, not only his centre, on >= 98% of frames."""
    t = np.arange(150) / FPS
    amplitude = speed * WIN_W / (2 * np.pi * 0.4)
    x = W / 2 + amplitude * np.sin(2 * np.pi * 0.4 * t)
    w = width_share * WIN_W
    boxes = np.column_stack([x - w / 2, x * 0 + 40.0, x * 0 + w, x * 0 + 280.0])
    share = inside(follow(boxes), boxes).mean()
    assert share >= 0.98, f"whole box inside on {share:.0%}"


def test_a_box_wider_than_the_window_is_centred() -> None:
    """Where the box cannot fit, the window holds its centre (and stays in the frame)."""
    boxes = np.tile([200.0, 0.0, 1.5 * WIN_W, 300.0], (60, 1))
    path = follow(boxes)
    centre = 200.0 + 0.75 * WIN_W
    assert np.all(np.abs(path[:, 0] + WIN_W / 2 - centre) <= 2)


def test_the_window_never_moves_across_a_cut(panning_cut: SampleTruth) -> None:
    """At the cut the window jumps: the frames before it are the first shot's path alone,
    the frames after it the second's, so nothing of one shot pans into the other."""
    cut = 2 * FPS
    for player in range(panning_cut.boxes.shape[1]):
        boxes = panning_cut.boxes[:, player]
        path = follow(boxes, cuts=[cut])
        assert np.array_equal(path[:cut], follow(boxes[:cut]))
        assert np.array_equal(path[cut:], follow(boxes[cut:]))
        steps = np.diff(path[cut - 4 : cut + 4, 0])
        jump = steps[3]  # frame cut - 1 to frame cut
        assert np.all(np.abs(np.delete(steps, 3)) <= max(4, abs(jump) / 4))


def test_the_path_has_no_new_jitter(panning: SampleTruth) -> None:
    """On the pan, the camera's 95th percentile jerk stays what a still-holding follower
    has (a 2 px step or two), and its speed and acceleration stay within the limits."""
    limits = CameraLimits()
    speed, accel = limits.max_speed * WIN_W / FPS, limits.max_accel * WIN_W / FPS**2
    for player in range(panning.boxes.shape[1]):
        x = follow(panning.boxes[:, player])[:, 0].astype(np.float64)
        assert jerk_p95(x) <= 110.0, f"player {player}: jerk p95 {jerk_p95(x):.0f}"
        assert np.abs(np.diff(x)).max() <= speed + 2
        assert np.abs(np.diff(x, 2)).max() <= accel + 4


def test_keyframes_give_centres_and_sizes() -> None:
    """Box keyframes become a centre and a size per frame, interpolated between them."""
    centres, sizes = keyframe_targets([(0, 0, 0, 10, 20), (10, 100, 0, 30, 20)], 11)
    assert centres[0].tolist() == [5.0, 10.0]
    assert centres[10].tolist() == [115.0, 10.0]
    assert sizes[5].tolist() == [20.0, 20.0]

"""The camera's own motion between two frames, and colours that tell players apart."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detect.appearance import describe, similarity
from pipeline.detect.camera_motion import camera_step, moved
from pipeline.manifests.detections import Detections, VideoFacts, decode_look, encode_look


def textured(width: int = 320, height: int = 180, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (height // 6, width // 6), dtype=np.uint8)
    return np.kron(blocks, np.ones((6, 6), dtype=np.uint8))


def test_a_pan_is_measured_as_the_shift_of_the_picture() -> None:
    world = textured(400, 180)
    previous, current = world[:, 40:360], world[:, 43:363]  # the camera moved 3 px right
    step = camera_step(np.ascontiguousarray(previous), np.ascontiguousarray(current))
    assert step is not None
    assert step[0, 2] == pytest.approx(-3.0, abs=0.2)
    assert step[1, 2] == pytest.approx(0.0, abs=0.2)
    assert moved(step, (320, 180))


def test_a_still_camera_with_moving_players_is_still() -> None:
    previous = textured()
    current = previous.copy()
    current[60:100, 100:120] = previous[60:100, 104:124]  # one "player" moved
    step = camera_step(previous, current)
    assert step is not None and not moved(step, (320, 180))


def test_unrelated_frames_give_no_motion() -> None:
    assert camera_step(textured(seed=1), textured(seed=2)) is None


def test_colours_tell_a_red_shirt_from_a_blue_one() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[:] = (50, 140, 50)  # grass
    frame[10:60, 10:30] = (210, 40, 40)  # red
    frame[10:60, 60:80] = (30, 90, 200)  # blue
    red, blue = describe(frame, np.array([[10, 10, 30, 60], [60, 10, 80, 60]]))
    again = describe(frame, np.array([[11, 12, 31, 61]]))[0]
    assert similarity(red, again) > 0.9
    assert similarity(red, blue) < 0.3
    assert similarity(decode_look(encode_look(red)), red) > 0.99
    assert np.isnan(similarity(red, np.zeros_like(red)))


def test_appearance_needs_one_entry_per_box() -> None:
    video = VideoFacts(width=320, height=180, fps=30, frame_count=1)
    row = (0, 0.9, 1, 10.0, 10.0, 30.0, 60.0, 0)
    common = dict(backend="motion", video=video, classes=["moving"], frames=[[row]])
    Detections(**common, ball=[None], action=[None], appearance=[[""]])
    with pytest.raises(ValueError, match="appearance"):
        Detections(**common, ball=[None], action=[None], appearance=[["", ""]])

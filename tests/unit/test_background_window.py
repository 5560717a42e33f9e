"""A detect pass's first frames held until the background is primed from them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.detect.background_window import BackgroundWindow, WindowConfig

FRAME = (18, 32, 3)  # a small RGB frame: 1728 bytes


def frame(index: int) -> np.ndarray:
    """A frame whose every pixel is its index (mod 256), so a sample says which it is."""
    return np.full(FRAME, index % 256, np.uint8)


class Primed:
    """What the window primes: the samples it was given, by frame index."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, samples: list[np.ndarray]) -> None:
        self.calls.append([int(s[0, 0, 0]) for s in samples])


def fill(window: BackgroundWindow, frames: range, stride: int = 1) -> int:
    """Hold ``frames`` (every ``stride``-th detected) until the window is full; the last
    frame held."""
    for index in frames:
        window.hold(index, frame(index), detect=index % stride == 0)
        if window.full(index):
            return index
    return frames[-1]


@pytest.mark.parametrize(
    ("frames", "samples"),
    [
        (250, list(range(0, 250, 10))),  # a clip of 250: every 10th, as a second decode took
        (120, list(range(0, 100, 4))),  # 120 // 25 = 4: the first 25 of every 4th
        (10, list(range(10))),  # fewer than 25: all of them
    ],
)
def test_the_samples_are_spread_as_a_decode_of_the_clip_spread_them(
    frames: int, samples: list[int]
) -> None:
    primed = Primed()
    window = BackgroundWindow(primed, (0, frames))
    assert fill(window, range(frames)) == frames - 1
    ready = window.close()
    assert primed.calls == [samples]
    assert [i for i, _ in ready] == list(range(frames))


def test_a_window_ends_when_its_memory_is_spent_and_gives_back_only_detected_frames() -> None:
    primed = Primed()
    config = WindowConfig(max_bytes=40 * frame(0).nbytes, samples=5)
    window = BackgroundWindow(primed, (0, 1000), config)
    assert fill(window, range(1000), stride=3) == 39
    ready = window.close()
    assert primed.calls == [[0, 8, 16, 24, 32]]
    assert [i for i, _ in ready] == list(range(0, 40, 3))
    assert not window.open


def test_a_window_closed_before_any_frame_primes_nothing() -> None:
    primed = Primed()
    assert BackgroundWindow(primed, (0, 10)).close() == []
    assert primed.calls == []


@pytest.mark.parametrize(
    ("span", "fps", "frame_count", "last"),
    [
        ((0, 300), 30.0, 300, 300),  # a whole pass: its own range
        ((30, 60), 30.0, 300, 150),  # a second from frame 30: decoded on to 4 s
        ((250, 260), 30.0, 300, 300),  # near the end: up to the clip's end
        ((0, 10), 10.0, 795, 40),
    ],
)
def test_a_short_pass_decodes_on_to_fill_its_window(
    span: tuple[int, int], fps: float, frame_count: int, last: int
) -> None:
    assert WindowConfig().last(span, fps, frame_count) == last

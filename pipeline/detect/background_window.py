"""The first frames of a detect pass, held back until the background is primed from them.

A background model that starts from one frame takes whoever stands in it for
background: they are missed until they move, and leave a ghost where they
stood. The motion backend therefore starts its model from the median of
frames spread over the clip (:meth:`pipeline.detect.motion.MotionDetector.prime`).
Those frames used to be sampled by a second decode of the clip, which on a
1080p clip cost a quarter of the detect pass. Here they come from the pass's
own decode instead: its frames are held back at the detector's width (those
it detects on, or every ``stride``-th past its range) until the window is
full, the model is primed from ``samples`` of them spread over it, and the
held frames are detected, in order, before any later one.

The window is the whole pass while its frames fit in ``max_bytes`` (900
frames at 320x240: the same samples as the second decode took, so the same
detections); a longer pass is primed from its first ``max_bytes`` of frames
(the second decode took a long clip's keyframes: a median across the whole
clip, at the cost of a second demux and keyframe decode).
A pass over less than ``seconds`` (a request about one frame) decodes on past
its end to fill that much; those frames only feed the median.

Example::

    window = BackgroundWindow(detector.prime, (start, last))
    window.hold(index, small, detect=True)
    if window.full(index):
        ready = window.close()   # primed; [(index, small), ...] to detect now
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Prime = Callable[[list[np.ndarray]], None]


@dataclass(frozen=True)
class WindowConfig:
    """How many of a pass's frames its background comes from."""

    # Frames held at most: 900 at 320x240 RGB (30 s at 30 fps; the second decode took
    # its samples from every frame of a clip up to 900 frames long).
    max_bytes: int = 200 * 2**20
    seconds: float = 4.0  # a shorter pass decodes on to fill this much
    samples: int = 25  # frames of the window the median is taken over

    def last(self, span: tuple[int, int], fps: float, frame_count: int) -> int:
        """The last frame (exclusive) a pass over ``span`` decodes for its window."""
        start, end = span
        return min(frame_count, max(end, start + round(self.seconds * fps)))


class BackgroundWindow:
    """A pass's first frames, held until the background model has seen them."""

    def __init__(
        self, prime: Prime, span: tuple[int, int], config: WindowConfig | None = None
    ) -> None:
        self.config = config or WindowConfig()
        self._prime = prime
        self._last = span[1]
        self.open = True
        self._held_bytes = 0
        self._frames: list[tuple[int, np.ndarray, bool]] = []  # index, small copy, detect it

    def hold(self, index: int, small: np.ndarray, *, detect: bool) -> None:
        """Keep frame ``index``'s small copy: for the median, and to detect later
        when ``detect``."""
        self._frames.append((index, small, detect))
        self._held_bytes += small.nbytes

    def full(self, index: int) -> bool:
        """Whether the window ends after frame ``index``: its span decoded, or its
        memory spent."""
        return index + 1 >= self._last or self._held_bytes >= self.config.max_bytes

    def close(self) -> list[tuple[int, np.ndarray]]:
        """Prime the background from the held frames and give back those to detect,
        in order."""
        self.open = False
        if self._frames:
            step = max(1, len(self._frames) // self.config.samples)
            samples = [small for _, small, _ in self._frames[::step]]
            self._prime(samples[: self.config.samples])
        ready = [(index, small) for index, small, detect in self._frames if detect]
        self._frames = []
        return ready

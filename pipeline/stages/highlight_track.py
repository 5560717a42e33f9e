"""Where the highlighted player is in each output frame.

Keyframes ``[frame, x, y, w, h]`` are in source frames and source pixels; they
are interpolated linearly (held before the first and after the last) and mapped
through framing's timeline (trim, speed, crop) when framing ran first.
"""

from __future__ import annotations

import numpy as np

from pipeline.manifests.timeline import FramingTimeline
from pipeline.render.spotlight import Box


class HighlightTrack:
    """Box of the highlighted player at any output frame."""

    def __init__(
        self,
        keyframes: list[tuple[int, float, float, float, float]],
        timeline: FramingTimeline | None = None,
    ) -> None:
        rows = np.asarray(keyframes, dtype=np.float64).reshape(-1, 5)
        self._frames = rows[:, 0]
        self._values = rows[:, 1:]
        self._timeline = timeline

    def source_frame(self, output_frame: int) -> float:
        """The source frame shown at ``output_frame``."""
        if self._timeline is None:
            return float(output_frame)
        return self._timeline.source_frame(output_frame)

    def box_at(self, output_frame: int) -> Box:
        """The player's box in output pixels."""
        f = self.source_frame(output_frame)
        x, y, w, h = (float(np.interp(f, self._frames, col)) for col in self._values.T)
        if self._timeline is not None:
            x -= self._timeline.crop.x
            y -= self._timeline.crop.y
        return Box(x, y, w, h)

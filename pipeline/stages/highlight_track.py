"""Where the highlighted player is in each output frame.

Keyframes ``[frame, x, y, w, h]`` are in source frames and source pixels; they
are interpolated linearly (held before the first and after the last) and mapped
through framing's timeline (trim, speed, crop, a moving crop) when framing ran
first. A followed track also has a strength per source frame (it fades out
while the player is lost).
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
        strength: np.ndarray | None = None,
    ) -> None:
        rows = np.asarray(keyframes, dtype=np.float64).reshape(-1, 5)
        self._frames = rows[:, 0]
        self._values = rows[:, 1:]
        self._timeline = timeline
        self._strength = strength  # per source frame, 0-1 (a followed track fades out)

    def strength_at(self, output_frame: int) -> float:
        """How strongly to draw the highlight (1 unless a followed player was lost)."""
        if self._strength is None or not len(self._strength):
            return 1.0
        f = round(self.source_frame(output_frame))
        return float(self._strength[min(max(f, 0), len(self._strength) - 1)])

    def source_frame(self, output_frame: int) -> float:
        """The source frame shown at ``output_frame``."""
        if self._timeline is None:
            return float(output_frame)
        return self._timeline.source_frame(output_frame)

    def centre_at(self, source_frame: float) -> tuple[float, float]:
        """The player's centre at ``source_frame``, in source pixels."""
        x, y, w, h = (float(np.interp(source_frame, self._frames, c)) for c in self._values.T)
        return x + w / 2, y + h / 2

    def box_at(self, output_frame: int) -> Box:
        """The player's box in output pixels."""
        f = self.source_frame(output_frame)
        x, y, w, h = (float(np.interp(f, self._frames, col)) for col in self._values.T)
        if self._timeline is not None:
            dx, dy = self._timeline.crop_origin(f)
            x, y = x - dx, y - dy
        return Box(x, y, w, h)

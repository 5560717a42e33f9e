"""Where the highlighted player is in each output frame, and whether he is there at all.

Keyframes ``[frame, x, y, w, h]`` are in source frames and source pixels; they
are interpolated linearly and mapped through framing's timeline (trim, speed,
crop, a moving crop) when framing ran first. A followed track also has a
strength per source frame (it fades out while the player is lost).

A hard cut ends a highlight: only the keyframes of the camera shot a frame is
in are used for it. Inside a shot the first keyframe is held back to the shot's
start and the last one on to its end, but never across a cut: a shot with no
keyframe (the other camera, where nobody said the player is) has no highlight,
so the light never stays on an empty street, a car roof or a bollard after a cut.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from pipeline.core.boxes import Box, Keyframe
from pipeline.manifests.timeline import FramingTimeline


class HighlightTrack:
    """Box of the highlighted player at any output frame (None: not in this shot)."""

    def __init__(
        self,
        keyframes: list[Keyframe],
        timeline: FramingTimeline | None = None,
        strength: np.ndarray | None = None,
        cuts: Sequence[int] = (),
    ) -> None:
        rows = np.asarray(keyframes, dtype=np.float64).reshape(-1, 5)
        self._frames = rows[:, 0]
        self._values = rows[:, 1:]
        self._timeline = timeline
        self._strength = strength  # per source frame, 0-1 (a followed track fades out)
        self.cuts = sorted(set(cuts))  # source frames that begin a new camera shot
        # Each keyframe's shot: the number of cuts at or before it.
        self._shots = np.searchsorted(self.cuts, self._frames, side="right")

    def shot_of(self, source_frame: float) -> int:
        """The camera shot (0, 1, ...) that ``source_frame`` is in."""
        return bisect.bisect_right(self.cuts, round(source_frame))

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

    def near_keyframe(self, output_frame: int) -> float:
        """1 on a keyframe, falling to 0.5 midway between two (how directly the player's
        place at ``output_frame`` was given rather than interpolated)."""
        f = self.source_frame(output_frame)
        i = int(np.searchsorted(self._frames, f))
        gaps = [abs(f - self._frames[j]) for j in (i - 1, i) if 0 <= j < len(self._frames)]
        spacing = np.diff(self._frames)
        typical = float(np.median(spacing)) if len(spacing) else 1.0
        return float(1.0 - 0.5 * min(1.0, 2 * min(gaps) / max(typical, 1.0)))

    def _in_shot(self, source_frame: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The keyframes (frames, values) of ``source_frame``'s shot; None when it has none."""
        if not self.cuts:
            return self._frames, self._values
        mine = self._shots == self.shot_of(source_frame)
        if not mine.any():
            return None
        return self._frames[mine], self._values[mine]

    def centre_at(self, source_frame: float) -> tuple[float, float]:
        """The player's centre at ``source_frame``, in source pixels (NaN: not in this shot)."""
        found = self._in_shot(source_frame)
        if found is None:
            return float("nan"), float("nan")
        frames, values = found
        x, y, w, h = (float(np.interp(source_frame, frames, c)) for c in values.T)
        return x + w / 2, y + h / 2

    def box_at(self, output_frame: int) -> Box | None:
        """The player's box in output pixels; None where the shot has no keyframe."""
        f = self.source_frame(output_frame)
        found = self._in_shot(f)
        if found is None:
            return None
        frames, values = found
        x, y, w, h = (float(np.interp(f, frames, col)) for col in values.T)
        if self._timeline is not None:
            dx, dy = self._timeline.crop_origin(f)
            x, y = x - dx, y - dy
        return Box(x, y, w, h)

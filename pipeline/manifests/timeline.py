"""How a framing output maps back onto its source: written by framing as
``framing/timeline.json`` so later stages can place source-frame coordinates
(highlight boxes, detections) on the reframed video.
"""

from __future__ import annotations

import bisect

from pydantic import Field

from pipeline.manifests.base import WireModel


class Rect(WireModel):
    """An axis-aligned rectangle in pixels."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class Piece(WireModel):
    """A stretch of source time played at ``factor`` (0.5 = half speed)."""

    source_start_s: float = Field(ge=0)
    source_end_s: float
    factor: float = Field(gt=0)
    interpolate: str = Field(
        "none", description="none, blend or motion: new frames of a slow piece"
    )

    @property
    def output_duration_s(self) -> float:
        """How long the piece lasts in the output."""
        return (self.source_end_s - self.source_start_s) / self.factor


class FramingTimeline(WireModel):
    """The source-to-output mapping of one framing run."""

    source_width: int
    source_height: int
    source_fps: float
    output_fps: float
    crop: Rect  # the window's size; its position when ``crop_path`` is empty
    pieces: list[Piece] = Field(min_length=1)
    crop_path: list[tuple[int, int]] = Field(
        default_factory=list,
        description="a moving crop: the window's [x, y] at each source frame from 0",
    )

    def crop_origin(self, source_frame: float) -> tuple[int, int]:
        """Top-left corner of the crop window at ``source_frame``."""
        if not self.crop_path:
            return self.crop.x, self.crop.y
        i = min(max(0, round(source_frame)), len(self.crop_path) - 1)
        x, y = self.crop_path[i]
        return x, y

    @property
    def output_duration_s(self) -> float:
        """The output's length."""
        return sum(p.output_duration_s for p in self.pieces)

    @property
    def output_frames(self) -> int:
        """How many frames the output has at ``output_fps``."""
        return round(self.output_duration_s * self.output_fps)

    def source_time(self, output_time_s: float) -> float:
        """The source time shown at ``output_time_s`` of the output."""
        starts = self._piece_output_starts()
        i = max(0, bisect.bisect_right(starts, output_time_s) - 1)
        piece = self.pieces[i]
        t = piece.source_start_s + (output_time_s - starts[i]) * piece.factor
        return min(max(t, piece.source_start_s), piece.source_end_s)

    def output_time(self, source_time_s: float) -> float | None:
        """Where the output shows source time ``source_time_s`` (None: trimmed away)."""
        for start, piece in zip(self._piece_output_starts(), self.pieces, strict=True):
            if piece.source_start_s <= source_time_s <= piece.source_end_s:
                return start + (source_time_s - piece.source_start_s) / piece.factor
        return None

    def source_frame(self, output_frame: int) -> float:
        """The (fractional) source frame index shown at ``output_frame``."""
        return self.source_time(output_frame / self.output_fps) * self.source_fps

    def _piece_output_starts(self) -> list[float]:
        starts, t = [], 0.0
        for piece in self.pieces:
            starts.append(t)
            t += piece.output_duration_s
        return starts

"""The detector contract: RGB frames in, boxes with classes and confidences out.

A detector sees frames scaled to ``input_width`` (aspect kept); the caller maps
boxes back to source pixels, tracks them and fills the frames it skipped.
Backends: :mod:`pipeline.detect.yolo` (players and ball) and
:mod:`pipeline.detect.motion` (moving regions and the action centre).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

PLAYER, BALL = 0, 1  # class ids in detections.json (``classes`` names them)


@dataclass
class FrameDetections:
    """One frame's boxes: ``xyxy`` (N, 4) pixels, ``classes`` (N,), ``scores`` (N,)."""

    xyxy: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    action: tuple[float, float] | None = None  # the centre of the action, when known
    track_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    # (N, appearance.BINS) colour histograms of the boxes, or empty when not described
    appearance: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    # How the camera moved since the previous detected frame (2x3, its pixels to these),
    # when measured: the tracker moves its predictions with it.
    camera: np.ndarray | None = None

    @classmethod
    def empty(cls) -> FrameDetections:
        """No boxes."""
        return cls(np.empty((0, 4)), np.empty(0, np.int64), np.empty(0))

    def scaled(self, factor: float) -> FrameDetections:
        """Boxes and action centre multiplied by ``factor`` (input to source pixels)."""
        action = None if self.action is None else (self.action[0] * factor, self.action[1] * factor)
        camera = None
        if self.camera is not None:  # x' = R x + t in input pixels: R X + factor t in source
            camera = self.camera.copy()
            camera[:, 2] *= factor
        return FrameDetections(
            self.xyxy * factor,
            self.classes,
            self.scores,
            action,
            self.track_ids,
            self.appearance,
            camera,
        )

    def of_class(self, cls: int) -> FrameDetections:
        """Only the boxes of class ``cls``."""
        keep = self.classes == cls
        tracks = self.track_ids[keep] if len(self.track_ids) else self.track_ids
        looks = self.appearance[keep] if len(self.appearance) else self.appearance
        return FrameDetections(
            self.xyxy[keep],
            self.classes[keep],
            self.scores[keep],
            self.action,
            tracks,
            looks,
            self.camera,
        )


class Detector(Protocol):
    """A detection backend, loaded once and called with batches of frames."""

    name: str
    classes: tuple[str, ...]  # names of class ids 0, 1, ...
    input_width: int  # frames are scaled to this width before ``detect``

    def detect(self, images: list[np.ndarray]) -> list[FrameDetections]:
        """Boxes for each (H, W, 3) uint8 RGB image, in that image's pixels."""
        ...

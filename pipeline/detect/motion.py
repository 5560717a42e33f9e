"""The ``motion`` backend: moving regions and the action centre, no weights needed.

Background subtraction (OpenCV's MOG2) on a small grey copy of each frame; the
foreground mask is grown and closed (a person's head, shirt and legs join into
one blob) and split into blobs.
The background model starts from the median of frames sampled across the whole
clip (:meth:`MotionDetector.prime`), so players are found from the first frame,
whole, and leave no ghosts where they stood; it then adapts slowly (light).
The action centre is the centroid of all moving pixels, so a camera that
follows it follows the play. It assumes a mostly static camera (a tripod or a
stand), which is how amateur games are filmed.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.detect.contract import PLAYER, FrameDetections


class MotionDetector:
    """Moving blobs as class 0 ("moving"), with the action centre per frame."""

    name = "motion"
    classes: tuple[str, ...] = ("moving",)

    def __init__(
        self,
        input_width: int = 320,
        min_area_fraction: float = 0.0004,
        learning_rate: float = 0.01,
    ) -> None:
        self.input_width = input_width
        self.min_area_fraction = min_area_fraction
        # Unprimed, the first frame initialises the background outright; after it a
        # fixed rate per detected frame (MOG2's automatic rate would report nothing
        # for the first few frames).
        self.learning_rate = learning_rate
        self._frames_seen = 0
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=120, varThreshold=24, detectShadows=True
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        # Joins a person's parts (head, shirt, legs) into one blob: taller than wide.
        self._join = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 13))

    def prime(self, samples: list[np.ndarray]) -> None:
        """Start the background model from the median of ``samples`` (RGB frames)."""
        if not samples:
            return
        median = np.median(np.stack([self._grey(s) for s in samples]), axis=0).astype(np.uint8)
        for _ in range(3):
            self._subtractor.apply(median, learningRate=1.0)
        self._frames_seen = max(self._frames_seen, 1)

    def detect(self, images: list[np.ndarray]) -> list[FrameDetections]:
        """One result per image, in order (the background model learns as it goes)."""
        return [self._one(image) for image in images]

    @staticmethod
    def _grey(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        blurred: np.ndarray = cv2.GaussianBlur(grey, (5, 5), 0)
        return blurred

    def _one(self, image: np.ndarray) -> FrameDetections:
        grey = self._grey(image)
        rate = 1.0 if self._frames_seen == 0 else self.learning_rate
        self._frames_seen += 1
        mask = self._subtractor.apply(grey, learningRate=rate)
        mask = np.where(mask == 255, 255, 0).astype(np.uint8)  # 127 marks shadows
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._join)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        min_area = self.min_area_fraction * mask.size
        boxes, scores = [], []
        for x, y, w, h, area in stats[1:count]:
            if area >= min_area:
                boxes.append((x, y, x + w, y + h))
                scores.append(min(1.0, area / (w * h)))
        ys, xs = np.nonzero(mask)
        action = (float(xs.mean()), float(ys.mean())) if len(xs) >= min_area else None
        xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return FrameDetections(
            xyxy, np.full(len(boxes), PLAYER, np.int64), np.asarray(scores, np.float64), action
        )

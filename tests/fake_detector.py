"""A deterministic detector driven by a generated clip's ground truth.

It answers as a real detector would (boxes in the scaled image's pixels, a
confidence, some misses and a little jitter) but from ``SampleTruth``, so what
tracking, gap filling and the virtual camera make of it can be checked against
the truth.
"""

from __future__ import annotations

import numpy as np

from pipeline.detect.contract import BALL, PLAYER, FrameDetections
from pipeline.media.sample import SampleTruth


def detection_schedule(start: int, end: int, stride: int) -> list[int]:
    """The frames ``detect_frames`` sends to a detector: every stride-th of
    ``[start, end)`` from ``start``, and the last."""
    return sorted({*range(start, end, stride), end - 1})


class TruthDetector:
    """Players and the ball from the truth, with seeded jitter, misses and ball gaps."""

    name = "truth"
    classes: tuple[str, ...] = ("player", "ball")

    def __init__(
        self,
        truth: SampleTruth,
        *,
        stride: int = 1,
        start: int = 0,
        end: int | None = None,
        input_width: int = 640,
        jitter_px: float = 1.5,
        miss_rate: float = 0.05,
        ball_gaps: tuple[tuple[int, int], ...] = (),
        seed: int = 3,
    ) -> None:
        self.truth = truth
        self.input_width = input_width
        last = truth.frames if end is None else end
        self.schedule = iter(detection_schedule(start, last, stride))
        self.jitter_px = jitter_px
        self.miss_rate = miss_rate
        self.ball_gaps = ball_gaps
        self.rng = np.random.default_rng(seed + start)  # a part draws its own noise
        self.calls: list[int] = []

    def detect(self, images: list[np.ndarray]) -> list[FrameDetections]:
        return [self._frame(next(self.schedule), image.shape[1]) for image in images]

    def _frame(self, index: int, width: int) -> FrameDetections:
        self.calls.append(index)
        scale = width / self.truth.width
        boxes, classes, scores = [], [], []
        for x, y, w, h in self.truth.boxes[index]:
            if self.rng.random() < self.miss_rate:
                continue
            jitter = self.rng.normal(0, self.jitter_px, 4)
            boxes.append(np.array([x, y, x + w, y + h]) + jitter)
            classes.append(PLAYER)
            scores.append(float(self.rng.uniform(0.6, 0.95)))
        if not any(a <= index < b for a, b in self.ball_gaps):
            bx, by = self.truth.ball[index]
            r = max(2.0, self.truth.height / 90)
            boxes.append(np.array([bx - r, by - r, bx + r, by + r]))
            classes.append(BALL)
            scores.append(0.5)
        order = np.argsort(scores)[::-1]  # most confident first, as after NMS
        xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order] * scale
        return FrameDetections(
            xyxy, np.asarray(classes, np.int64)[order], np.asarray(scores)[order]
        )

"""Shot boundaries: where a clip cuts from one camera shot to another.

Each frame gets two small signatures: a colour histogram (Y, U and V on a
subsampled frame) and a layout (its luma shrunk to 16x9). Frame ``i`` starts a
new shot when it differs from frame ``i - 1`` in either by more than its
threshold (half the L1 distance of the histograms, 0-1; the layouts' mean
difference, 0-1) and by more than ``ratio`` times that cue's recent changes (a
fast pan changes every frame a little, a cut once a lot), and frame ``i + 1``
still differs from ``i - 1`` (a flash or a single bad frame comes back; a cut
does not). The layout finds the cuts between two shots of one palette (two
close-ups in the same dark room) that the colours alone miss. Shots shorter
than ``min_shot_s`` are not split again, the first one included.

Tracks, the follow camera and the highlight reset at a cut: nothing is
interpolated or smoothed across one.

Example::

    shots = ShotCuts(fps=25.0)
    for frame in reader.frames():
        shots.add(frame)
    shots.cuts        # [112, 240]: the frames that begin a new shot
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np

from pipeline.media.frames import FrameReader, YuvFrame
from pipeline.media.probe import VideoInfo

STEP = 4  # sample every 4th pixel of each plane: the histogram barely changes
BINS = (16, 8, 8)  # Y, U, V
LAYOUT = (16, 9)  # cells of the layout signature
# In-shot motion moves the layout by up to ~0.06 a frame (a car crossing the frame);
# cuts by 0.12-0.26 on real footage, same-palette ones included.
LAYOUT_THRESHOLD = 0.1


def histogram(frame: YuvFrame) -> np.ndarray:
    """The frame's colour signature: normalised Y, U and V histograms, concatenated."""
    parts = []
    for plane, bins in zip((frame.y, frame.u, frame.v), BINS, strict=True):
        sample = plane[::STEP, ::STEP]
        counts = np.bincount((sample >> (8 - int(np.log2(bins)))).ravel(), minlength=bins)
        parts.append(counts / max(1, sample.size))
    return np.concatenate(parts)


def layout(frame: YuvFrame) -> np.ndarray:
    """The frame's layout: its luma shrunk to 16x9 by area, 0-1.

    Shrunk from every ``STEP``-th pixel, as the histogram samples: a cell still
    averages hundreds of pixels (within 0.005 of the whole luma's layout change on the
    installed clips, the threshold being 0.1), and a frame whose size is no multiple of
    16x9 (1920x816) no longer costs a slow area resize of the whole plane."""
    sample = frame.y[::STEP, ::STEP]
    small: np.ndarray = cv2.resize(sample, LAYOUT, interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def layout_change(a: np.ndarray, b: np.ndarray) -> float:
    """How far two layouts are apart: the mean difference of their cells, 0-1."""
    return float(np.abs(a - b).mean())


def change(a: np.ndarray, b: np.ndarray) -> float:
    """How different two signatures are: 0 (same colours) to 1 (nothing in common)."""
    return float(np.abs(a - b).sum() / (2 * len(BINS)))


class ShotCuts:
    """Finds hard cuts in consecutive frames fed one by one (with one frame's delay)."""

    def __init__(
        self,
        fps: float,
        *,
        threshold: float = 0.1,
        ratio: float = 3.0,
        min_shot_s: float = 0.5,
        recent: int = 10,
    ) -> None:
        self.threshold = threshold
        self.ratio = ratio
        self.min_gap = max(1, round(min_shot_s * fps))
        self.cuts: list[int] = []
        self._recent: deque[tuple[float, float]] = deque(maxlen=recent)
        self._before: tuple[np.ndarray, np.ndarray] | None = None  # frame i - 1
        # frame i, if it may be a cut
        self._candidate: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None
        self._last_cut = 0  # the clip's start begins a shot: none shorter than min_gap

    def _jumps(
        self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
    ) -> tuple[float, float]:
        return change(a[0], b[0]), layout_change(a[1], b[1])

    def _unlike(self, jumps: tuple[float, float]) -> bool:
        return jumps[0] > self.threshold or jumps[1] > LAYOUT_THRESHOLD

    def add(self, frame: YuvFrame) -> None:
        """Look at the next frame of the clip (frames must come in order, without gaps)."""
        signature = (histogram(frame), layout(frame))
        if self._candidate is not None:
            index, candidate = self._candidate
            assert self._before is not None
            # A cut stays cut: the frame after it is still unlike the frame before it.
            if self._unlike(self._jumps(signature, self._before)):
                self.cuts.append(index)
                self._last_cut = index
                self._recent.clear()
                self._before = candidate
            # else a flash or a bad frame: it is skipped, the shot goes on as before it
            self._candidate = None
        if self._before is not None:
            colours, shape = jumps = self._jumps(signature, self._before)
            usual = np.mean(self._recent, axis=0) if self._recent else np.zeros(2)
            far_from_last = frame.index - self._last_cut >= self.min_gap
            by_colour = colours > self.threshold and colours > self.ratio * usual[0]
            by_layout = shape > LAYOUT_THRESHOLD and shape > self.ratio * usual[1]
            if (by_colour or by_layout) and far_from_last:
                self._candidate = (frame.index, signature)
                return
            self._recent.append(jumps)
        self._before = signature


def scan_cuts(path: Path, info: VideoInfo, span: tuple[int, int] | None = None) -> list[int]:
    """The cuts in frames ``span = [start, end)`` of a clip (all of it when not given), by
    one decode: for a stage that must know its shots and has no detections to read them
    from (the cost of a decode, a small part of an encode)."""
    start, end = span if span is not None else (0, info.frame_count)
    shots = ShotCuts(float(info.fps))
    with FrameReader(path, info) as reader:
        whole = start <= 0 and end >= info.frame_count
        for frame in reader.frames() if whole else reader.frames(start=start, end=end):
            shots.add(frame)
    return shots.cuts

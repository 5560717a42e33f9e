"""Shot boundaries: where a clip cuts from one camera shot to another.

Each frame gets a small colour histogram (Y, U and V on a subsampled frame).
Frame ``i`` starts a new shot when it differs from frame ``i - 1`` by more
than ``threshold`` (half the L1 distance of the histograms, 0-1), by more than
``ratio`` times the recent changes (a fast pan changes every frame a little,
a cut once a lot), and frame ``i + 1`` still differs from ``i - 1`` (a flash
or a single bad frame comes back; a cut does not). Shots shorter than
``min_shot_s`` are not split again.

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

import numpy as np

from pipeline.media.frames import FrameReader, YuvFrame
from pipeline.media.probe import VideoInfo

STEP = 4  # sample every 4th pixel of each plane: the histogram barely changes
BINS = (16, 8, 8)  # Y, U, V


def histogram(frame: YuvFrame) -> np.ndarray:
    """The frame's colour signature: normalised Y, U and V histograms, concatenated."""
    parts = []
    for plane, bins in zip((frame.y, frame.u, frame.v), BINS, strict=True):
        sample = plane[::STEP, ::STEP]
        counts = np.bincount((sample >> (8 - int(np.log2(bins)))).ravel(), minlength=bins)
        parts.append(counts / max(1, sample.size))
    return np.concatenate(parts)


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
        self._recent: deque[float] = deque(maxlen=recent)
        self._before: np.ndarray | None = None  # frame i - 1
        self._candidate: tuple[int, np.ndarray] | None = None  # frame i, if it may be a cut
        self._last_cut = 0  # the clip's start begins a shot: none shorter than min_gap

    def add(self, frame: YuvFrame) -> None:
        """Look at the next frame of the clip (frames must come in order, without gaps)."""
        signature = histogram(frame)
        if self._candidate is not None:
            index, candidate = self._candidate
            assert self._before is not None
            # A cut stays cut: the frame after it is still unlike the frame before it.
            if change(signature, self._before) > self.threshold:
                self.cuts.append(index)
                self._last_cut = index
                self._recent.clear()
                self._before = candidate
            # else a flash or a bad frame: it is skipped, the shot goes on as before it
            self._candidate = None
        if self._before is not None:
            jump = change(signature, self._before)
            usual = float(np.mean(self._recent)) if self._recent else 0.0
            far_from_last = frame.index - self._last_cut >= self.min_gap
            if jump > self.threshold and jump > self.ratio * usual and far_from_last:
                self._candidate = (frame.index, signature)
                return
            self._recent.append(jump)
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

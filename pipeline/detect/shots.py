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

A cut between two shots that look alike (a jump cut on a fixed camera, the same
face from another angle) moves the layout by less than its threshold, but by
many times what the shot moved before (``JUMP_RATIO``; pans and fast motion stay
under half of it on the bench's clips): that is a cut too. Every cut then
settles: the new shot changes from its first frame to its second by less than
half of what the cut changed, in colours or in layout (a shaking camera, or one
that starts to move, keeps changing as fast; a cut happens once).

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
from dataclasses import dataclass
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
# A jump: the layout moves by JUMP_RATIO times its recent changes and by at least
# JUMP_FLOOR (the cuts between look-alike shots on the bench's clips: 0.020-0.058, 11-19
# times the shot's motion; pans, zooms and motion under 3 times it above 0.01).
JUMP_RATIO = 6.0
JUMP_FLOOR = 0.015
# A cut settles: from the frame after it to the next, colours or layout change by less
# than SETTLE times the cut's change (at most 0.35 at the bench's cuts, fast shots after
# them included; 0.66-1.4 at a violent shake's frames that pass the other tests).
SETTLE = 0.5


def histogram(frame: YuvFrame) -> np.ndarray:
    """The frame's colour signature: normalised Y, U and V histograms, concatenated.

    Bin ``b`` of ``n`` counts the samples ``v`` with ``v * n // 256 == b`` (OpenCV's
    uniform bins over 0-256, exact integer counts): the same counts as shifting each
    sample, in a third of the time at 1080p (no shifted copy of the samples)."""
    parts = []
    for plane, bins in zip((frame.y, frame.u, frame.v), BINS, strict=True):
        sample = plane[::STEP, ::STEP]
        counts = cv2.calcHist([sample], [0], None, [bins], [0, 256]).ravel().astype(np.int64)
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


@dataclass(frozen=True)
class _Candidate:
    """A frame that may begin a new shot, decided by the frame after it."""

    index: int
    signature: tuple[np.ndarray, np.ndarray]
    jumps: tuple[float, float]  # from the frame before it
    usual_shape: float  # the shot's recent layout changes, on average


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
        # frame i, if it may be a cut: its index, signature, jumps and the usual jumps
        self._candidate: _Candidate | None = None
        self._last_cut = 0  # the clip's start begins a shot: none shorter than min_gap

    def _jumps(
        self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
    ) -> tuple[float, float]:
        return change(a[0], b[0]), layout_change(a[1], b[1])

    def _unlike(self, jumps: tuple[float, float]) -> bool:
        return jumps[0] > self.threshold or jumps[1] > LAYOUT_THRESHOLD

    def _jump(self, shape: float, usual_shape: float) -> bool:
        return shape > JUMP_FLOOR and shape > JUMP_RATIO * usual_shape

    def add(self, frame: YuvFrame) -> None:
        """Look at the next frame of the clip (frames must come in order, without gaps)."""
        signature = (histogram(frame), layout(frame))
        if self._candidate is not None:
            self._settle(signature)
        if self._before is not None:
            colours, shape = jumps = self._jumps(signature, self._before)
            usual = np.mean(self._recent, axis=0) if self._recent else np.zeros(2)
            far_from_last = frame.index - self._last_cut >= self.min_gap
            by_colour = colours > self.threshold and colours > self.ratio * usual[0]
            by_layout = shape > LAYOUT_THRESHOLD and shape > self.ratio * usual[1]
            by_jump = self._jump(shape, float(usual[1]))
            if (by_colour or by_layout or by_jump) and far_from_last:
                self._candidate = _Candidate(frame.index, signature, jumps, float(usual[1]))
                return
            self._recent.append(jumps)
        self._before = signature

    def _settle(self, signature: tuple[np.ndarray, np.ndarray]) -> None:
        """Decide the candidate cut by the frame after it."""
        candidate, self._candidate = self._candidate, None
        assert candidate is not None and self._before is not None
        after = self._jumps(signature, self._before)
        # A cut stays cut: the frame after it is still unlike the frame before it ...
        jumped = self._jump(candidate.jumps[1], candidate.usual_shape)
        stays = self._unlike(after) or (jumped and self._jump(after[1], candidate.usual_shape))
        if not stays:
            return  # a flash or a bad frame: skipped, the shot goes on as before it
        # ... and the new shot moves less than the cut changed, by one cue at least.
        step = self._jumps(signature, candidate.signature)
        if any(s < SETTLE * c for s, c in zip(step, candidate.jumps, strict=True)):
            self._cut(candidate)
            return
        # The camera moves on as fast (a shake, a camera starting to move): the candidate
        # is an ordinary frame of the shot.
        self._recent.append(candidate.jumps)
        self._before = candidate.signature

    def _cut(self, candidate: _Candidate) -> None:
        self.cuts.append(candidate.index)
        self._last_cut = candidate.index
        self._recent.clear()
        self._before = candidate.signature


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

"""The frames a poster and preview may show, kept while a pass draws them, so the pass
makes both itself once the poster's frame is chosen (at the end: the choice weighs each
frame's sharpness against the median of the frames lit, known only then).

A frame can only be chosen if no earlier one beats it whatever the median turns out to
be: one at least as large-and-lit and at least as sharp always scores at least as well,
and the earlier wins a tie. Those *candidates* (a Pareto front, capped) are kept whole,
with the preview-sized copies of the frames of their preview windows; the copies of the
last preview length are kept too (a candidate may yet come whose window reaches back
there), and nothing else. At most ``max_candidates + 1`` whole frames and
``(max_candidates + 1) x`` a preview length of small copies are held (at 1080p30: 15 MB
and 87 MB). At the end the chosen frame and its window, when kept, become the two files;
else nothing is held and the cut decodes them from the output as before.

Example::

    keeper = PreviewKeeper(fps=30.0, window_of=lambda best: (best - 45, best + 45))
    keeper.offer(frame, base=area * strength * found, sharpness=sharp)   # per drawn frame
    keeper.hold(video, frames=300, frame=best, window=(90, 180))        # after the pass
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.media.frames import YuvFrame
from pipeline.media.pass_previews import PASS_PREVIEWS, HeldPreviews
from pipeline.media.previews import (
    PreviewSpec,
    _PreviewWriter,
    _write_jpeg,
    fitted_size,
    preview_frames,
    preview_length,
)

Window = tuple[int, int]  # [start, end) output frames


@dataclass(frozen=True)
class PosterScore:
    """What a lit frame brings to the poster's choice."""

    index: int  # output frame
    base: float  # the part known as it is drawn: area x strength x how surely found
    sharpness: float


def best_poster(lit: Sequence[PosterScore]) -> int | None:
    """The frame whose player is best seen: the largest ``base`` weighed by sharpness
    relative to the median of ``lit`` (up to twice as much, so a large blurred box does
    not beat a slightly smaller sharp one, nor a tiny sharp one a large box); the earliest
    on a tie; None when none scores above zero."""
    if not lit:
        return None
    usual = float(np.median([s.sharpness for s in lit])) or 1.0
    best, best_score = None, 0.0
    for shown in lit:
        score = _score(shown, usual)
        if score > best_score:
            best, best_score = shown.index, score
    return best


def _score(shown: PosterScore, usual: float) -> float:
    return shown.base * (0.5 + 0.5 * min(shown.sharpness / usual, 2.0))


@dataclass(frozen=True)
class _Candidate:
    score: PosterScore
    window: Window  # the preview it would get
    frame: Any  # the drawn frame (its PyAV frame), whole


class PreviewKeeper:
    """Keeps what a poster and preview of a pass's output may need (see the module).

    ``window_of(frame)`` is the preview window the frame would get as the poster; it must
    hold the frame and be at most one preview length long.
    """

    MAX_CANDIDATES = 4  # whole frames held at most; past it the least promising goes

    def __init__(
        self,
        fps: float,
        window_of: Callable[[int], Window],
        spec: PreviewSpec | None = None,
        max_candidates: int = MAX_CANDIDATES,
    ) -> None:
        self.fps, self.spec = fps, spec or PreviewSpec()
        self.window_of, self.max_candidates = window_of, max_candidates
        self.length = preview_length(fps, self.spec)
        self.overflowed = False  # a candidate was let go for room: the cut may decode
        self._candidates: list[_Candidate] = []
        self._recent: deque[tuple[int, Any]] = deque()  # the last preview length's copies
        self._kept: dict[int, Any] = {}  # older copies inside a candidate's window
        self._lit: list[float] = []  # the sharpness of every lit frame so far
        self._size: tuple[int, int] | None = None

    @property
    def candidates(self) -> list[int]:
        """The output frames that may still be chosen (and are held whole)."""
        return [c.score.index for c in self._candidates]

    def offer(self, frame: YuvFrame, *, base: float, sharpness: float | None) -> None:
        """Take the drawn ``frame`` (output numbering, in order): its small copy, and the
        frame itself while it may yet be the poster. ``sharpness`` None: he is not lit
        there; ``base`` 0: lit but never the poster."""
        av_frame = frame.av_frame
        if self._size is None:
            self._size = fitted_size(av_frame.width, av_frame.height, self.spec.preview_max_side)
        width, height = self._size
        small = av_frame.reformat(width, height, "yuv420p", interpolation="AREA")
        self._recent.append((frame.index, small))
        if sharpness is not None:
            self._lit.append(sharpness)
            if base > 0:
                self._consider(PosterScore(frame.index, base, sharpness), av_frame)
        # A candidate still to come holds itself: its window starts after this frame's.
        while self._recent and self._recent[0][0] <= frame.index - self.length:
            index, old = self._recent.popleft()
            if self._in_a_window(index):
                self._kept[index] = old

    def _consider(self, new: PosterScore, av_frame: Any) -> None:
        for held in self._candidates:
            old = held.score
            if old.base >= new.base and old.sharpness >= new.sharpness:
                return  # an earlier frame scores at least as well, whatever the median
        # Those it beats whatever the median (strictly larger, at least as sharp) go.
        self._candidates = [
            c
            for c in self._candidates
            if not (new.base > c.score.base and new.sharpness >= c.score.sharpness)
        ]
        self._candidates.append(_Candidate(new, self.window_of(new.index), av_frame))
        if len(self._candidates) > self.max_candidates:
            # The front no longer fits: the one scoring least against the median so far
            # goes (if it is chosen after all, the cut decodes it as before).
            usual = float(np.median(self._lit)) or 1.0
            weakest = min(
                reversed(self._candidates), key=lambda c: _score(c.score, usual)
            )  # the later of equals: the earlier wins their tie
            self._candidates.remove(weakest)
            self.overflowed = True
        self._kept = {i: f for i, f in self._kept.items() if self._in_a_window(i)}

    def _in_a_window(self, index: int) -> bool:
        return any(c.window[0] <= index < c.window[1] for c in self._candidates)

    def hold(self, video: Path, frames: int, frame: int | None, window: Window | None) -> bool:
        """Write the poster (``frame``) and preview (``window``) of ``video`` (``frames``
        frames) next to it and hold them for the cut; False when what they need was not
        kept (the cut decodes them)."""
        if frame is None or self._size is None:
            return False
        cut = preview_frames(frame, window, frames, self.fps, self.spec)
        poster = next((c.frame for c in self._candidates if c.score.index == cut.frame), None)
        small = {**self._kept, **dict(self._recent)}
        shown = [small.get(i) for i in range(cut.start, cut.end)]
        self._candidates, self._kept, self._recent = [], {}, deque()
        if poster is None or any(s is None for s in shown):
            return False
        poster_path = video.with_name(f"{video.stem}-poster.jpg")
        preview_path = video.with_name(f"{video.stem}-preview.mp4")
        _write_jpeg(poster, poster_path, self.spec.poster_max_side)
        rate = Fraction(self.fps).limit_denominator(1001)
        writer = _PreviewWriter(preview_path, poster, rate, self.spec)
        try:
            for copy in shown:
                writer.write(copy)
        finally:
            writer.close()
        PASS_PREVIEWS.remember(
            HeldPreviews(video, (frame, window), frames, cut, poster_path, preview_path)
        )
        return True

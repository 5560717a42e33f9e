"""Posters and previews made by the pass that wrote the video, for the cut that follows.

The call that writes a job's last video cuts its poster and preview from that file
(:func:`pipeline.media.previews.cut_previews`): a seek back to the last keyframe and a
decode up to the end of the preview, up to 8 s of video decoded again. Where the pass
already held those frames (framing's ffmpeg graph, when the frames shown are known
before it runs; the overlay, which keeps its best candidates while it draws), it makes
the two files itself and leaves them here under the video's path; the cut takes them
instead of decoding, when they answer exactly what it is asked (the same poster frame
and preview window of a video with the same frame count).

An entry lives until it is taken, and only the latest few are kept: a pass whose files
are never asked for (a stage that turned out not to be the last) leaks nothing.

Example::

    PASS_PREVIEWS.remember(HeldPreviews(video, asked=(None, None), cut=cut, poster=p, preview=q))
    held = PASS_PREVIEWS.take(video, asked=(None, None), frames=300)   # None: cut it as before
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PreviewCut:
    """Which frames the poster and the preview show (output frame numbers)."""

    frame: int
    start: int
    end: int
    fps: float

    @property
    def at_s(self) -> float:
        """The poster's moment in the output."""
        return round(self.frame / self.fps, 3)


Asked = tuple[int | None, tuple[int, int] | None]  # the poster frame and preview window asked


@dataclass(frozen=True)
class HeldPreviews:
    """A poster and a preview of ``video`` already written, and what they answer."""

    video: Path
    asked: Asked
    frames: int  # the video's frame count they were cut for
    cut: PreviewCut
    poster: Path
    preview: Path


class PassPreviews:
    """A process's previews made in passes, by the video each belongs to."""

    CAPACITY = 8  # entries kept at most (jobs at once on this machine, with room to spare)

    def __init__(self) -> None:
        self._held: OrderedDict[Path, HeldPreviews] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, held: HeldPreviews) -> None:
        """``held`` answers for its video, until taken or pushed out by newer entries."""
        with self._lock:
            self._held[held.video.absolute()] = held
            self._held.move_to_end(held.video.absolute())
            while len(self._held) > self.CAPACITY:
                self._held.popitem(last=False)

    def take(self, video: Path, asked: Asked, frames: int) -> HeldPreviews | None:
        """The previews held for ``video`` if they answer ``asked`` for a video of
        ``frames`` frames and their files are there (the entry is gone either way)."""
        with self._lock:
            held = self._held.pop(video.absolute(), None)
        if held is None or held.asked != asked or held.frames != frames:
            return None
        if not (held.poster.is_file() and held.preview.is_file()):
            return None
        return held

    def clear(self) -> None:
        """Forget every entry (tests)."""
        with self._lock:
            self._held.clear()


PASS_PREVIEWS = PassPreviews()

"""The clicked players followed by their look in the detect pass's own decode.

Following a click by its look (:mod:`pipeline.follow.look`) needs the seed box,
which comes from the detections around the click: the detect stage used to
finish its pass, then decode the click's shot a second time for the look. On a
1080p clip that second decode costs as much again as the first one for a
one-shot clip. Here the pass keeps its small frames from ``back_s`` before each
click; once the detections reach ``lookahead`` frames past it, the seed is
taken from a draft of the detections assembled so far, and the buffered frames
and every later frame of the pass are followed until the next cut.

The draft may differ from the final detections (a gap filled in later, a track
cut at a cut found later): :meth:`LooksInPass.result` takes the seed from the
final ones again and gives the follow only when it is the same seed, followed
over every frame of its span; otherwise None, and the stage follows that click
with a decode of its own, as before. Either way the result is the same.

Example::

    looks = LooksInPass(clicks, info, draft=lambda found: assemble(found, ...))
    found = detect_frames(path, info, detector, shots=shots, looks=looks)
    looks.result(0, doc)    # FollowedLook, or None: follow it the old way
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import structlog
from av.video.reformatter import VideoReformatter

from pipeline.detect.contract import FrameDetections
from pipeline.follow.look import BACK_S, LOOK_WIDTH, LookFollow, LookSeed, look_image
from pipeline.follow.look_seed import look_seed
from pipeline.follow.pick import SEARCH_FRAMES
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import Click
from pipeline.media.frames import YuvFrame
from pipeline.media.probe import VideoInfo

log = structlog.get_logger(__name__)

Draft = Callable[[dict[int, FrameDetections]], Detections]


@dataclass
class _Pending:
    """One click: its frames kept until its seed is known, then its follow."""

    click: Click
    frames: list[tuple[int, np.ndarray, float]] = field(default_factory=list)
    seeded: bool = False
    seed: LookSeed | None = None
    follow: LookFollow | None = None
    skipped: bool = False  # the seed box was too small to follow by its look
    fed: int = 0  # frames of the span fed, in order from the follow's start
    next_frame: int = 0  # the next frame the follow takes
    stopped_at: int | None = None  # the cut that ended the span, once met


class LooksInPass:
    """The looks of ``clicks``, followed on the frames a detect pass decodes."""

    def __init__(
        self,
        clicks: list[Click],
        info: VideoInfo,
        draft: Draft,
        *,
        width: int = LOOK_WIDTH,
        back_s: float = BACK_S,
    ) -> None:
        self.width = width
        self._info = info
        self._draft = draft
        self._back = round(back_s * float(info.fps))
        # A box filled in near the click needs the detection after its gap: half a
        # second (assemble's widest gap at stride 1) and a batch past the search.
        self.lookahead = SEARCH_FRAMES + round(float(info.fps)) + 16
        self._pending = [_Pending(c) for c in clicks]
        self._scaler = VideoReformatter()
        self._last: tuple[YuvFrame, np.ndarray | None] | None = None  # not settled yet

    def see(
        self,
        frame: YuvFrame,
        rgb: np.ndarray | None,
        found: dict[int, FrameDetections],
        cuts: list[int],
    ) -> None:
        """The pass's next ``frame`` (``rgb``: its small copy when at the look's width),
        after the cuts were shown it: the frame before it is settled (whether it began a
        shot is known), so that one goes to the follows."""
        last, self._last = self._last, (frame, rgb)
        if last is not None:
            self._settle(*last, cuts)
        latest = next(reversed(found)) if found else -1  # found fills in frame order
        for pending in self._pending:
            if not pending.seeded and latest >= pending.click.frame + self.lookahead:
                self._start(pending, found, cuts)

    def finish(self, found: dict[int, FrameDetections], cuts: list[int]) -> None:
        """The pass is over: the last frame is settled (a clip's last frame begins no
        shot), and clicks still waiting take their seed from what was found."""
        if self._last is not None:
            self._settle(*self._last, cuts)
            self._last = None
        for pending in self._pending:
            if not pending.seeded:
                self._start(pending, found, cuts)

    def result(self, index: int, doc: Detections) -> tuple[np.ndarray, np.ndarray] | None:
        """The boxes and colours of click ``index`` as :func:`~pipeline.follow.look.follow_look`
        gives them from the final ``doc``, or None when this pass cannot say (the seed
        moved, the span was not all seen, or nothing to follow: ask the old way)."""
        pending = self._pending[index]
        seed = look_seed(doc, pending.click)
        if seed is None or pending.seed is None or pending.skipped or pending.follow is None:
            return None
        start = pending.follow.start
        end = pending.stopped_at if pending.stopped_at is not None else doc.video.frame_count
        followed = LookSeed(pending.seed.frame, pending.seed.box, (pending.seed.span[0], end))
        if seed != followed or pending.fed != end - start:
            log.info("look_in_pass_redone", click_frame=pending.click.frame)
            return None
        return pending.follow.boxes, pending.follow.colours

    def _needs(self, pending: _Pending, index: int) -> bool:
        if pending.stopped_at is not None:
            return False
        if not pending.seeded:
            return index >= pending.click.frame - SEARCH_FRAMES - self._back
        return pending.follow is not None and not pending.skipped

    def _settle(self, frame: YuvFrame, rgb: np.ndarray | None, cuts: list[int]) -> None:
        index = frame.index
        wanted = [p for p in self._pending if self._needs(p, index)]
        if not wanted:
            return
        small = rgb if rgb is not None and rgb.shape[1] == self.width else None
        image, scale = look_image(frame, self.width, self._scaler, small)
        for pending in wanted:
            if not pending.seeded:
                pending.frames.append((index, image, scale))
            else:
                self._feed(pending, index, image, scale, cuts)

    def _start(self, pending: _Pending, found: dict[int, FrameDetections], cuts: list[int]) -> None:
        """The seed from a draft of the detections so far; the kept frames followed."""
        pending.seeded = True
        seed = look_seed(self._draft(found), pending.click)
        frames, pending.frames = pending.frames, []
        if seed is None:
            return
        pending.seed = seed
        pending.follow = LookFollow(seed, self._info.frame_count, self._back)
        pending.next_frame = pending.follow.start
        for index, image, scale in frames:
            self._feed(pending, index, image, scale, cuts)

    def _feed(
        self, pending: _Pending, index: int, image: np.ndarray, scale: float, cuts: list[int]
    ) -> None:
        follow = pending.follow
        if follow is None or pending.skipped or pending.stopped_at is not None:
            return
        if index < follow.start:
            return
        if index != pending.next_frame:  # a frame of the span the pass did not show
            pending.skipped = True
            return
        if index > follow.seed.frame and index in cuts:
            pending.stopped_at = index  # his shot ends: the follow too
            return
        try:
            follow.add(index, image, scale)
        except ValueError as exc:  # too small a box to follow by its look
            log.info("look_follow_skipped", reason=str(exc))
            pending.skipped = True
            return
        pending.fed += 1
        pending.next_frame = index + 1

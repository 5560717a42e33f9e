"""Follow a clicked player by how he looks: a template of his pixels, searched frame by frame.

Motion blobs find people who move; a player who stands, sways on a bicycle or
is merged with a teammate gives no blob of his own. From the click, this
follows the patch of pixels itself: each frame, the template is searched
(normalised cross-correlation) in a window around where he was, and refreshed
slowly while the match is strong, so he may turn and bend without the
template drifting onto the background. A weak match (he is hidden) keeps
the last place and searches there until he comes back.

It runs in the detect pass for the clicks a job names, forwards from the
click to the end of its shot and backwards to its start (at most
``back_s`` seconds, the frames held meanwhile), on frames ``width`` pixels wide:
about half a millisecond a frame.

Example::

    boxes, colours = follow_look(path, info, LookSeed(118, Box(400, 38, 66, 164), span=(76, 137)))
    boxes[120]        # [x, y, w, h] in source pixels, NaN where he was not found
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.core.boxes import Box
from pipeline.detect.appearance import describe
from pipeline.detect.clip_detection import scaled_rgb
from pipeline.manifests.detections import APPEARANCE_BINS
from pipeline.media.frames import FrameReader, YuvFrame
from pipeline.media.probe import VideoInfo

SEARCH = 0.6  # the search window: this much of the box's width on each side (half of height)
MIN_SCORE = 0.5  # a weaker match: he is hidden, the last place is kept
REFRESH_SCORE = 0.7  # a stronger match refreshes the template
REFRESH_GAIN = 0.1  # how much of the new patch goes into the template
LOOK_WIDTH = 320  # px: the frames the look is followed on
BACK_S = 10.0  # s: how far before the click it is followed back


class TemplateFollower:
    """One player's template and where it was last found, in one frame's pixels."""

    def __init__(self, frame: np.ndarray, box: Box) -> None:
        height, width = frame.shape[:2]
        x, y = max(0, round(box.x)), max(0, round(box.y))
        w, h = min(round(box.w), width - x), min(round(box.h), height - y)
        if w < 4 or h < 4:
            raise ValueError(f"a box of {w}x{h} px is too small to follow by its look")
        self.box = (x, y, w, h)
        self._template = frame[y : y + h, x : x + w].astype(np.float32)

    def update(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """Where the player is in ``frame``, or None when no part of the window matches."""
        x, y, w, h = self.box
        height, width = frame.shape[:2]
        mx, my = int(SEARCH * w) + 2, int(SEARCH * h / 2) + 2
        x0, y0 = max(0, x - mx), max(0, y - my)
        x1, y1 = min(width, x + w + mx), min(height, y + h + my)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        if region.shape[0] < h or region.shape[1] < w:
            return None
        scores = cv2.matchTemplate(region, self._template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (dx, dy) = cv2.minMaxLoc(scores)
        if best < MIN_SCORE:
            return None
        self.box = (x0 + dx, y0 + dy, w, h)
        if best > REFRESH_SCORE:
            nx, ny = self.box[:2]
            patch = frame[ny : ny + h, nx : nx + w].astype(np.float32)
            self._template += REFRESH_GAIN * (patch - self._template)
        return self.box


def _colours(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The colour histogram of ``box`` (x, y, w, h, whole pixels) in a BGR ``image``."""
    x, y, w, h = box
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    looks = describe(rgb, np.array([[x, y, x + w, y + h]], dtype=np.float64))
    first: np.ndarray = looks[0]
    return first


@dataclass(frozen=True)
class LookSeed:
    """Whom to follow by his look: his ``box`` (source pixels) on ``frame``, through the
    frames ``span = [start, end)`` (his shot)."""

    frame: int
    box: Box
    span: tuple[int, int]


class LookFollow:
    """The follow of one ``seed``, fed the frames of its span in order, from ``start``:
    each as BGR at the look's width, with ``scale`` source pixels to one of its pixels.
    :func:`follow_look` feeds it from a decode of its own; a detect pass that decodes
    the clip anyway feeds it the same frames (:mod:`pipeline.follow.look_in_pass`).

    ``boxes`` (frame_count, 4) ``[x, y, w, h]`` in source pixels, NaN where he was not
    found, and ``colours`` (frame_count, BINS) of each box found, fill in as it goes.
    A seed box too small to follow raises ValueError when its frame is fed."""

    def __init__(self, seed: LookSeed, frame_count: int, back_frames: int) -> None:
        self.seed = seed
        self.start = max(seed.span[0], seed.frame - back_frames)
        self.boxes = np.full((frame_count, 4), np.nan)
        self.colours = np.zeros((frame_count, APPEARANCE_BINS))
        self.boxes[seed.frame] = seed.box.xywh
        self._held: list[np.ndarray] = []  # the frames before the click, for the backward pass
        self._follower: TemplateFollower | None = None

    def add(self, index: int, image: np.ndarray, scale: float) -> None:
        """Follow him into frame ``index`` (the next of the span)."""
        frame = self.seed.frame
        if index < frame:
            self._held.append(image)
        elif index == frame:
            scaled = Box(*(v / scale for v in self.seed.box.xywh))
            _backwards(image, self._held, scaled, (self.boxes, self.colours), frame, scale)
            self._held.clear()
            self._follower = TemplateFollower(image, scaled)
            self.colours[frame] = _colours(image, self._follower.box)
        elif self._follower is not None:
            found = self._follower.update(image)
            if found is not None:
                self.boxes[index] = [v * scale for v in found]
                self.colours[index] = _colours(image, found)


def look_image(
    decoded: YuvFrame, width: int, scaler: VideoReformatter, rgb: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The frame as the look follows it: BGR at ``width`` (from ``rgb`` when the caller
    has it at that width already), and the source pixels to one of its pixels."""
    small = rgb if rgb is not None else scaled_rgb(decoded, width, scaler)
    image = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    return image, decoded.av_frame.width / image.shape[1]


def follow_look(
    path: Path,
    info: VideoInfo,
    seed: LookSeed,
    *,
    width: int = LOOK_WIDTH,
    back_s: float = BACK_S,
    progress: Callable[[float], None] = lambda fraction: None,
) -> tuple[np.ndarray, np.ndarray]:
    """(frame_count, 4) boxes ``[x, y, w, h]`` (source pixels) of the player ``seed``
    names, followed by his look through its span, NaN where he was not found; and
    (frame_count, BINS) the colours of each box found (:mod:`pipeline.detect.appearance`)."""
    follow = LookFollow(seed, info.frame_count, round(back_s * float(info.fps)))
    start, end = follow.start, seed.span[1]
    seek = start > 0 and info.constant_rate
    scaler = VideoReformatter()
    with FrameReader(path, info) as reader:
        frames = reader.frames(start=start, end=end) if seek else reader.frames()
        for decoded in frames:
            index = decoded.index
            if index >= end:
                break
            if index < start:
                continue
            follow.add(index, *look_image(decoded, width, scaler))
            progress(min(1.0, (index - start + 1) / max(1, end - start)))
    return follow.boxes, follow.colours


def _backwards(
    image: np.ndarray,
    held: list[np.ndarray],
    seed: Box,
    into: tuple[np.ndarray, np.ndarray],
    frame: int,
    scale: float,
) -> None:
    """Follow from the click frame back through the ``held`` frames (those just before),
    writing boxes and colours ``into`` their arrays."""
    out, colours = into
    follower = TemplateFollower(image, seed)
    for offset, earlier in enumerate(reversed(held), start=1):
        found = follower.update(earlier)
        if found is not None:
            out[frame - offset] = [v * scale for v in found]
            colours[frame - offset] = _colours(earlier, found)

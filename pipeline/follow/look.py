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
from pipeline.media.frames import FrameReader
from pipeline.media.probe import VideoInfo

SEARCH = 0.6  # the search window: this much of the box's width on each side (half of height)
MIN_SCORE = 0.5  # a weaker match: he is hidden, the last place is kept
REFRESH_SCORE = 0.7  # a stronger match refreshes the template
REFRESH_GAIN = 0.1  # how much of the new patch goes into the template


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


def follow_look(
    path: Path,
    info: VideoInfo,
    seed: LookSeed,
    *,
    width: int = 320,
    back_s: float = 10.0,
    progress: Callable[[float], None] = lambda fraction: None,
) -> tuple[np.ndarray, np.ndarray]:
    """(frame_count, 4) boxes ``[x, y, w, h]`` (source pixels) of the player ``seed``
    names, followed by his look through its span, NaN where he was not found; and
    (frame_count, BINS) the colours of each box found (:mod:`pipeline.detect.appearance`)."""
    frame, box = seed.frame, seed.box.xywh
    start, end = max(seed.span[0], frame - round(back_s * float(info.fps))), seed.span[1]
    out = np.full((info.frame_count, 4), np.nan)
    colours = np.zeros((info.frame_count, APPEARANCE_BINS))
    out[frame] = box
    held: list[np.ndarray] = []  # the frames before the click, for the backward pass
    follower: TemplateFollower | None = None
    scale = 1.0
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
            image = cv2.cvtColor(scaled_rgb(decoded, width, scaler), cv2.COLOR_RGB2BGR)
            scale = decoded.av_frame.width / image.shape[1]
            if index < frame:
                held.append(image)
            elif index == frame:
                scaled = Box(*(v / scale for v in box))
                _backwards(image, held, scaled, (out, colours), frame, scale)
                held.clear()
                follower = TemplateFollower(image, scaled)
                colours[frame] = _colours(image, follower.box)
            elif follower is not None:
                found = follower.update(image)
                if found is not None:
                    out[index] = [v * scale for v in found]
                    colours[index] = _colours(image, found)
            progress(min(1.0, (index - start + 1) / max(1, end - start)))
    return out, colours


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

"""A clicked person who fills the frame (a close-up) lit by his whole extent.

A plausible player is at most half the frame wide
(:func:`~pipeline.follow.pick.plausible_players`): a wider box is a group, a car,
the whole picture shaking. A close-up's person is wider than that: his head and
shoulders fill a hand-held shot. His detected boxes are then only the parts of
him that move (his face, a shoulder), the follow and the look hold on to the
part clicked, and the light sits on his face while he is the whole picture.

Here his extent is, per frame, the union of the detected boxes joined to the
part followed (each touching the part or one already joined). One frame's union
flickers with what moved in it; a person who fills the frame barely moves
across it, so his extent is the median of those unions over ``window_s`` either
side (within the shot). It applies only where that extent at the picked frame
is a close-up's (wider than a plausible player, most of the frame tall, cut by
its bottom edge): anywhere else the follow's own box is the player, as before.

Example::

    extent = close_up_extent(doc, anchors, frame=30)   # None: not a close-up
    extent[45]       # [x, y, w, h] of the whole of him, NaN where he is not known
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.boxes import Boxes
from pipeline.follow import highlight_path
from pipeline.manifests.detections import Detections


@dataclass(frozen=True)
class CloseUp:
    """When a clicked person is a close-up, and how his extent is gathered."""

    min_width: float = 0.5  # of the frame's width: wider than any plausible player
    min_height: float = 0.7  # of the frame's height: his head and shoulders fill it
    bottom: float = 0.02  # of the frame's height: this near its bottom, the frame cuts him
    touch: float = 0.04  # of the frame's width: boxes this near are joined
    min_part: float = 0.001  # of the frame's area: smaller boxes are noise, not his parts
    window_s: float = 2.0  # the median of the unions over this long either side


def close_up_extent(
    doc: Detections, anchors: np.ndarray, frame: int, config: CloseUp | None = None
) -> np.ndarray | None:
    """(n, 4) ``[x, y, w, h]``: the extent of the person whose followed part is
    ``anchors`` (n, 4, NaN where he is not known), on the frames he is known; None when
    he is no close-up (see :func:`_is_close_up`, at ``frame``)."""
    config = config or CloseUp()
    known = ~np.isnan(anchors).any(axis=1)
    if not 0 <= frame < len(anchors) or not known[frame]:
        return None
    unions = np.full((len(anchors), 4), np.nan)  # x1, y1, x2, y2
    shot = doc.shot_of(frame)
    reach = round(config.window_s * doc.video.fps)
    unions[frame] = _joined(doc, frame, anchors[frame], config)
    near = np.arange(max(shot[0], frame - reach), min(shot[1], frame + reach + 1))
    for f in near[known[near]]:
        unions[f] = _joined(doc, int(f), anchors[f], config)
    if not _is_close_up(_median_near(unions, frame, reach, shot), doc, config):
        return None
    for f in np.flatnonzero(known):
        if np.isnan(unions[f]).any():
            unions[f] = _joined(doc, int(f), anchors[f], config)
    extent = np.full((len(anchors), 4), np.nan)
    for a, b in highlight_path.shots(len(anchors), doc.shots):
        for f in np.flatnonzero(known[a:b]) + a:
            x1, y1, x2, y2 = _median_near(unions, int(f), reach, (a, b))
            extent[f] = (x1, y1, x2 - x1, y2 - y1)
    return extent


def _is_close_up(extent: np.ndarray, doc: Detections, config: CloseUp) -> bool:
    """Whether ``extent`` (``[x1, y1, x2, y2]``) is a close-up's person: wider than any
    plausible player, most of the frame tall and cut by its bottom edge (head and
    shoulders). A player whose boxes join a crowd's or a panning picture's is not: their
    union stops short of the bottom or of most of the height."""
    width, height = doc.video.width, doc.video.height
    x1, y1, x2, y2 = extent
    return bool(
        x2 - x1 > config.min_width * width
        and y2 - y1 > config.min_height * height
        and y2 >= (1 - config.bottom) * height
    )


def _median_near(unions: np.ndarray, frame: int, reach: int, shot: tuple[int, int]) -> np.ndarray:
    """The median of the known ``unions`` within ``reach`` frames of ``frame`` in its
    ``shot``, each edge apart."""
    a, b = max(shot[0], frame - reach), min(shot[1], frame + reach + 1)
    near = unions[a:b]
    near = near[~np.isnan(near).any(axis=1)]
    median: np.ndarray = np.median(near, axis=0)
    return median


def _joined(doc: Detections, frame: int, anchor: np.ndarray, config: CloseUp) -> np.ndarray:
    """``[x1, y1, x2, y2]``: the part ``anchor`` (``[x, y, w, h]``) and the detected boxes
    of ``frame`` joined to it, each touching the union so far; inside the frame."""
    width, height = doc.video.width, doc.video.height
    found = doc.boxes(frame)
    parts: Boxes = found[~found.interpolated & (found.areas >= config.min_part * width * height)]
    x, y, w, h = anchor
    union = np.array([x, y, x + w, y + h], dtype=np.float64)
    pad = config.touch * width
    free = np.ones(len(parts), dtype=bool)
    grew = True
    while grew:
        touching = (
            free
            & (parts.x1 - pad <= union[2])
            & (parts.x2 + pad >= union[0])
            & (parts.y1 - pad <= union[3])
            & (parts.y2 + pad >= union[1])
        )
        grew = bool(touching.any())
        if grew:
            free &= ~touching
            union = np.array(
                [
                    min(union[0], float(parts.x1[touching].min())),
                    min(union[1], float(parts.y1[touching].min())),
                    max(union[2], float(parts.x2[touching].max())),
                    max(union[3], float(parts.y2[touching].max())),
                ]
            )
    clipped: np.ndarray = np.clip(union, 0, [width, height, width, height])
    return clipped

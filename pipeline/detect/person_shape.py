"""Fragments of one person joined into one upright box: a person-shaped prior.

A person who barely moves shows a background model or a frame difference only
the parts that sway: a head, an arm, the legs. Each would be its own box, its
own track, and a click between them would land on none. A person is taller
than wide and his parts stack vertically, so fragments that overlap sideways
and lie one above the other, close enough, are merged while the merged box
still has a person's shape; side-by-side blobs (two players, a player and a
car) are never merged, nor two whole players standing one behind the other
(each is already a whole upright box, or the union would be too thin).

Example::

    boxes, areas, parts = upright_groups(xyxy, areas, (320, 136))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PersonShape:
    """What a merged box may look like (the shape of a standing person, arms out or in)."""

    min_aspect: float = 0.3  # width / height: thinner is two people stacked, or a post
    max_aspect: float = 0.9  # wider is not upright
    max_gap: float = 0.5  # of the larger part's height or width: space between stacked parts
    min_overlap: float = 0.4  # of the narrower part's width, shared sideways
    max_widening: float = 1.15  # union width / the wider part's: stacked, not side by side
    max_height: float = 0.95  # of the frame's height
    max_width: float = 0.3  # of the frame's width (a person is never wider)
    min_fill: float = 0.12  # of the union's area covered by the parts' pixels
    # Two parts each this upright (width / height) and each this much of the union's
    # height are two whole people, one behind the other, not a head and a body.
    whole_aspect: float = 0.7
    whole_share: float = 0.5


def upright_groups(
    xyxy: np.ndarray,
    areas: np.ndarray,
    frame_size: tuple[int, int],
    shape: PersonShape | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``xyxy`` (N, 4) fragment boxes with ``areas`` (N,) pixels each, in a ``(width,
    height)`` frame, merged into upright
    groups: returns the boxes (M, 4), their pixel areas (M,) and how many fragments
    each holds (M,). The pair whose gap is smallest merges first, and the merged box is
    tried again, so a head, a torso and legs end as one box."""
    shape = shape or PersonShape()
    boxes = [np.asarray(b, dtype=np.float64) for b in np.asarray(xyxy).reshape(-1, 4)]
    pixels = [float(a) for a in np.asarray(areas).reshape(-1)]
    parts = [1] * len(boxes)
    while len(boxes) > 1:
        best = _best_pair(np.array(boxes), np.array(pixels), frame_size, shape)
        if best is None:
            break
        i, j = best
        union = np.concatenate(
            [np.minimum(boxes[i][:2], boxes[j][:2]), np.maximum(boxes[i][2:], boxes[j][2:])]
        )
        boxes[i], pixels[i], parts[i] = union, pixels[i] + pixels[j], parts[i] + parts[j]
        del boxes[j], pixels[j], parts[j]
    out = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    return out, np.array(pixels, dtype=np.float64), np.array(parts, dtype=np.int64)


def _best_pair(
    boxes: np.ndarray, pixels: np.ndarray, frame_size: tuple[int, int], shape: PersonShape
) -> tuple[int, int] | None:
    """The two boxes to merge next (smallest vertical gap first), or None."""
    x1, y1, x2, y2 = boxes.T
    w, h = x2 - x1, y2 - y1
    overlap = np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None])
    narrower = np.minimum(w[:, None], w[None])
    gap = np.maximum(y1[:, None], y1[None]) - np.minimum(y2[:, None], y2[None])
    larger = np.maximum(np.maximum(h[:, None], h[None]), np.maximum(w[:, None], w[None]))
    uw = np.maximum(x2[:, None], x2[None]) - np.minimum(x1[:, None], x1[None])
    uh = np.maximum(y2[:, None], y2[None]) - np.minimum(y1[:, None], y1[None])
    aspect = uw / np.maximum(uh, 1e-6)
    fill = (pixels[:, None] + pixels[None]) / np.maximum(uw * uh, 1e-6)
    ok = (
        (overlap >= shape.min_overlap * narrower)
        & (gap <= shape.max_gap * larger)
        & (uw <= shape.max_widening * np.maximum(w[:, None], w[None]))
        & (aspect >= shape.min_aspect)
        & (aspect <= shape.max_aspect)
        & (uh <= shape.max_height * frame_size[1])
        & (uw <= shape.max_width * frame_size[0])
        & (fill >= shape.min_fill)
    )
    upright = w / np.maximum(h, 1e-6) <= shape.whole_aspect
    whole = upright[:, None] & upright[None]
    whole &= np.minimum(h[:, None], h[None]) >= shape.whole_share * uh
    ok &= ~whole
    np.fill_diagonal(ok, False)
    if not ok.any():
        return None
    cost = np.where(ok, gap, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return (int(min(i, j)), int(max(i, j)))

"""Follow one player through the detections from the box a user clicked.

Tracker ids on motion blobs fragment: a player's blob splits, merges with a
neighbour's and comes back under a new id several times a second. Following
an id loses the player within half a second. This follows the *player*
instead, frame by frame, forwards and backwards from the clicked frame:

- a constant-velocity prediction of where the player will be;
- the plausible box (see :func:`~pipeline.follow.pick.plausible_players`)
  nearest to that prediction, of a similar size and alike in colour
  (:mod:`pipeline.detect.appearance`), whatever its id: a box that looks like
  someone else (the other team's shirt) is never taken, and among close
  boxes the one that looks most like the player wins;
- when nothing fits the gate (an occlusion, a blob merged with another
  player's), the prediction coasts for up to ``bridge_s`` (reported as
  filled in), then holds and widens its search until a box that looks
  clearly like the player is found (reported as lost meanwhile). Whoever was
  tracked apart from him when he was last seen is someone else: a teammate
  in the same shirt who stays in view while he is hidden is never taken for him;
- the point clicked is followed too, as an anchor inside the box: when the
  clicked box was several players merged into one blob and it splits, the part
  under the anchor is the player (a merged blob's centre is nobody);
- a shot boundary ends the follow: after a hard cut nobody is known to be the
  same player.

Example::

    followed = follow_player(doc, frame=30, box=(600, 300, 40, 100))
    followed.boxes[45], followed.seen[45]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.detect.appearance import similarity
from pipeline.manifests.detections import (
    APPEARANCE_BINS,
    INTERP,
    TRACK,
    X1,
    X2,
    Y1,
    Y2,
    Detections,
)

LOST, FILLED, SEEN = 0, 1, 2  # per frame: how the followed player was known there
BY_LOOK = -2  # the track id of a candidate found by the player's look, not the detector

GATE = 0.8  # a candidate's centre within this many box sizes of the prediction
LOST_GATE = 2.5  # the search widens to this while the player is lost
SIZE_RATIO = 1.8  # a candidate no more than this much larger or smaller (per side)
VELOCITY_GAIN = 0.4  # how fast the velocity estimate follows new evidence
SIZE_GAIN = 0.2  # how fast the box size follows new evidence
LOOK_WEIGHT = 1.5  # a unit of unlikeness costs as much as this many gates of distance
MIN_LIKENESS = 0.6  # a box less alike than this (Bhattacharyya) is someone else
REFIND_LIKENESS = 0.8  # after a loss, the player is re-found only this alike
LOOK_GAIN = 0.1  # how fast the player's colours follow a confident match
SPLIT = 4.0  # a part under the anchor down to 1/SPLIT of the box (per side) is the player
ANCHOR_BONUS = 0.5  # a box under the anchor is this many gates closer
LOOK_BOX_COST = 0.3  # a box found by the look (a template can drift) costs this much more
MERGED = 1.5  # a box this much larger than the usual one (per side) holds several players
ANCHOR_DECAY = 0.1  # how fast the anchor settles to the box centre once matched


@dataclass(frozen=True)
class FollowedPlayer:
    """Per frame: the player's box ``[x, y, w, h]`` (NaN where unknown) and how it
    was known (``SEEN``, ``FILLED`` or ``LOST``)."""

    boxes: np.ndarray
    seen: np.ndarray


def follow_player(
    doc: Detections,
    frame: int,
    box: tuple[float, float, float, float],
    *,
    bridge_s: float = 0.5,
    candidates: list[np.ndarray] | None = None,
    looks: list[np.ndarray] | None = None,
    look: np.ndarray | None = None,
    anchor: tuple[float, float] | None = None,
    size: tuple[float, float] | None = None,
) -> FollowedPlayer:
    """Follow the player whose box on ``frame`` is ``box``, through the whole clip.

    ``candidates[i]`` are frame ``i``'s plausible boxes as detection rows (all
    of the frame's rows when not given), ``looks[i]`` their colour histograms
    and ``look`` the clicked player's (colours are not compared without them);
    ``anchor`` is the point clicked (the box centre when not given); ``size`` the
    player's own ``(w, h)`` when known (else the clip's median box: larger boxes are
    several players merged).
    """
    n = doc.video.frame_count
    rows = candidates if candidates is not None else [doc.rows(i) for i in range(n)]
    if looks is None:
        looks = [np.zeros((len(r), APPEARANCE_BINS)) for r in rows]
    model = look if look is not None else np.zeros(APPEARANCE_BINS)
    boxes = np.full((n, 4), np.nan)
    seen = np.full(n, LOST, dtype=np.int64)
    boxes[frame] = box
    seen[frame] = SEEN
    bridge = max(1, round(bridge_s * doc.video.fps))
    shot_start, shot_end = doc.shot_of(frame)
    x, y, w, h = box
    offset = (0.0, 0.0) if anchor is None else (anchor[0] - x - w / 2, anchor[1] - y - h / 2)
    frames = _Frames(rows, looks, size if size is not None else _typical_size(rows))
    for step, stop in ((1, shot_end), (-1, shot_start - 1)):
        _follow(frames, boxes, seen, (frame, step, stop), bridge, model.copy(), offset)
    return FollowedPlayer(boxes, seen)


@dataclass(frozen=True)
class _Frames:
    """Per frame: the candidate rows and their colour histograms."""

    rows: list[np.ndarray]
    looks: list[np.ndarray]
    typical: tuple[float, float]  # a player's usual box (w, h): larger ones are merged blobs


def _typical_size(rows: list[np.ndarray]) -> tuple[float, float]:
    """The median detected box size over the clip (``inf`` when there is none)."""
    found = [r[r[:, INTERP] == 0] for r in rows if len(r)]
    every = np.concatenate(found) if found else np.empty((0, 8))
    if not len(every):
        return float("inf"), float("inf")
    return (
        float(np.median(every[:, X2] - every[:, X1])),
        float(np.median(every[:, Y2] - every[:, Y1])),
    )


def _follow(
    frames: _Frames,
    boxes: np.ndarray,
    seen: np.ndarray,
    span: tuple[int, int, int],
    bridge: int,
    model: np.ndarray,
    offset: tuple[float, float],
) -> None:
    """One direction of the follow, ``span = (start, step, stop)``: from ``start`` (known)
    towards ``stop`` (excluded); ``model`` is the player's colour histogram (all zeros:
    unknown), updated in place; ``offset``: the anchor from the box centre."""
    start, step, stop = span
    ox, oy = offset
    x, y, w, h = boxes[start]
    cx, cy = x + w / 2, y + h / 2
    tw, th = frames.typical
    own = (w, h) if w <= MERGED * tw and h <= MERGED * th else (tw, th)  # his size, alone
    vx = vy = 0.0
    missing = 0
    others = _others(frames.rows[start], (x, y, x + w, y + h))
    for f in range(start + step, stop, step):
        px, py = cx + vx * (missing + 1), cy + vy * (missing + 1)
        lost = missing > bridge
        gate = (LOST_GATE if lost else GATE) * max(w, h)
        likeness = REFIND_LIKENESS if lost else MIN_LIKENESS
        merged = w > MERGED * tw or h > MERGED * th  # the box holds several players
        predicted, anchor = (px, py, w, h), (px + ox, py + oy)
        rows = frames.rows[f]
        barred = np.isin(rows[:, TRACK], others) if missing else None
        match = _best(
            rows, frames.looks[f], model, predicted, anchor, gate, likeness, merged, barred
        )
        if match is None:
            missing += 1
            if missing <= bridge:
                boxes[f] = (px - w / 2, py - h / 2, w, h)
                seen[f] = FILLED
            continue
        mx1, my1, mx2, my2, interpolated, look = match
        alone = max((mx2 - mx1) / w, w / (mx2 - mx1), (my2 - my1) / h, h / (my2 - my1)) < 1.3
        if alone and look.any() and model.any() and similarity(look, model) >= REFIND_LIKENESS:
            model += LOOK_GAIN * (look - model)  # not from a blob merged with someone else
        mcx, mcy = (mx1 + mx2) / 2, (my1 + my2) / 2
        gap = missing + 1
        ax, ay = px + ox, py + oy
        if (mx2 - mx1) * SIZE_RATIO < w or (my2 - my1) * SIZE_RATIO < h:
            w, h = mx2 - mx1, my2 - my1  # split off a merged blob: this part is the player
            vx = vy = 0.0
            if merged and look.any():  # and these are his colours, not the group's
                model[:] = look
        else:
            vx += VELOCITY_GAIN * ((mcx - cx) / gap - vx)
            vy += VELOCITY_GAIN * ((mcy - cy) / gap - vy)
            w += SIZE_GAIN * ((mx2 - mx1) - w)
            h += SIZE_GAIN * ((my2 - my1) - h)
        cx, cy = mcx, mcy
        settle = 1.0 if merged else 1 - ANCHOR_DECAY  # in a group the anchor is all we have
        ox = float(np.clip(ax - cx, -w / 2, w / 2)) * settle
        oy = float(np.clip(ay - cy, -h / 2, h / 2)) * settle
        missing = 0
        others = _others(rows, (mx1, my1, mx2, my2))
        seen[f] = FILLED if interpolated else SEEN
        if w > MERGED * tw or h > MERGED * th:  # in a group: he is at the anchor, his size
            boxes[f] = (cx + ox - own[0] / 2, cy + oy - own[1] / 2, *own)
        else:
            own = (w, h)
            boxes[f] = (cx - w / 2, cy - h / 2, w, h)


def _others(rows: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The track ids of the boxes in ``rows`` that are someone else: tracked, and apart
    from the player's own box ``(x1, y1, x2, y2)`` (a part of his own blob is not)."""
    x1, y1, x2, y2 = box
    apart = (rows[:, X1] >= x2) | (rows[:, X2] <= x1) | (rows[:, Y1] >= y2) | (rows[:, Y2] <= y1)
    ids: np.ndarray = np.unique(rows[apart & (rows[:, TRACK] >= 0), TRACK])
    return ids


def _best(
    rows: np.ndarray,
    looks: np.ndarray,
    model: np.ndarray,
    predicted: tuple[float, float, float, float],
    anchor: tuple[float, float],
    gate: float,
    likeness: float,
    merged: bool = False,
    barred: np.ndarray | None = None,
) -> tuple[float, float, float, float, bool, np.ndarray] | None:
    """The box that best fits the prediction ``(x, y, w, h)`` (centre and size): within
    ``gate`` of it, of a similar size (or a smaller part under the ``anchor``), at least
    ``likeness`` alike in colour where both are described, and cheapest in distance plus
    unlikeness, less a bonus under the anchor; None when none fits. While the player's
    box is ``merged`` with others, its colours are the group's: a part under the anchor
    is taken whatever its colours. ``barred`` rows are someone else (tracked apart from
    him when he was last seen: a teammate who stayed in view while he was hidden)."""
    if not len(rows):
        return None
    px, py, w, h = predicted
    bw, bh = rows[:, X2] - rows[:, X1], rows[:, Y2] - rows[:, Y1]
    similar = (
        (bw <= SIZE_RATIO * w)
        & (bw * SIZE_RATIO >= w)
        & (bh <= SIZE_RATIO * h)
        & (bh * SIZE_RATIO >= h)
    )
    ax, ay = anchor
    under = (rows[:, X1] <= ax) & (ax <= rows[:, X2]) & (rows[:, Y1] <= ay) & (ay <= rows[:, Y2])
    part = under & (bw * SPLIT >= w) & (bh * SPLIT >= h) & (bw <= w) & (bh <= h)
    similar |= part
    distance = np.hypot((rows[:, X1] + rows[:, X2]) / 2 - px, (rows[:, Y1] + rows[:, Y2]) / 2 - py)
    alike = np.array([similarity(look, model) for look in looks])
    alike = np.where(np.isnan(alike), likeness, alike)  # undescribed: no evidence either way
    if merged:
        alike = np.where(part, np.maximum(alike, likeness), alike)
    fits = similar & (distance <= gate) & (alike >= likeness)
    if barred is not None:
        fits &= ~barred
    if not fits.any():
        return None
    cost = distance / gate + LOOK_WEIGHT * (1.0 - alike) - ANCHOR_BONUS * under
    if not merged:  # in a group, his look is the one box that is him alone
        cost += LOOK_BOX_COST * (rows[:, TRACK] == BY_LOOK)
    cost = np.where(fits, cost, np.inf)
    best = int(np.argmin(cost))
    r = rows[best]
    return float(r[X1]), float(r[Y1]), float(r[X2]), float(r[Y2]), bool(r[INTERP]), looks[best]

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

    followed = follow_player(doc, FollowStart(frame=30, box=Box(600, 300, 40, 100)))
    followed.boxes[45], followed.seen[45]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.boxes import Box, Boxes
from pipeline.detect.appearance import similarity
from pipeline.manifests.detections import APPEARANCE_BINS, Detections

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


@dataclass(frozen=True)
class FollowStart:
    """Where a follow starts: the player's ``box`` on ``frame``, and what else is known of
    him: ``look``, his colour histogram (colours are not compared without it);
    ``anchor``, the point clicked (the box centre when not given); ``size``, his own
    ``(w, h)`` (else the clip's median box: larger boxes are several players merged)."""

    frame: int
    box: Box
    look: np.ndarray | None = None
    anchor: tuple[float, float] | None = None
    size: tuple[float, float] | None = None


def follow_player(
    doc: Detections,
    start: FollowStart,
    *,
    bridge_s: float = 0.5,
    candidates: list[Boxes] | None = None,
) -> FollowedPlayer:
    """Follow the player ``start`` names through the whole clip (its shot).

    ``candidates[i]`` are frame ``i``'s plausible boxes with their colours (all of
    the frame's boxes when not given).
    """
    n = doc.video.frame_count
    frames = candidates if candidates is not None else [doc.boxes(i) for i in range(n)]
    model = start.look if start.look is not None else np.zeros(APPEARANCE_BINS)
    out = FollowedPlayer(np.full((n, 4), np.nan), np.full(n, LOST, dtype=np.int64))
    out.boxes[start.frame] = start.box.xywh
    out.seen[start.frame] = SEEN
    bridge = max(1, round(bridge_s * doc.video.fps))
    shot_start, shot_end = doc.shot_of(start.frame)
    cx, cy = start.box.centre
    offset = (0.0, 0.0) if start.anchor is None else (start.anchor[0] - cx, start.anchor[1] - cy)
    clip = _Clip(frames, start.size if start.size is not None else _typical_size(frames))
    for step, stop in ((1, shot_end), (-1, shot_start - 1)):
        _follow(clip, out, (start.frame, step, stop), bridge, model.copy(), offset)
    return out


@dataclass(frozen=True)
class _Clip:
    """Per frame, the candidate boxes (with their colours); a player's usual size."""

    frames: list[Boxes]
    typical: tuple[float, float]  # a player's usual box (w, h): larger ones are merged blobs


@dataclass(frozen=True)
class _Guess:
    """Where the player should be on the next frame, and how strictly a box must fit:
    within ``gate`` of ``predicted``'s centre, at least ``likeness`` alike in colour."""

    predicted: Box
    anchor: tuple[float, float]
    gate: float
    likeness: float
    merged: bool  # his box holds several players: a part under the anchor is him


@dataclass(frozen=True)
class _Match:
    """The box taken for the player on a frame."""

    box: Box
    interpolated: bool
    look: np.ndarray


def _typical_size(frames: list[Boxes]) -> tuple[float, float]:
    """The median detected box size over the clip (``inf`` when there is none)."""
    every = Boxes.concatenate([b[~b.interpolated] for b in frames if len(b)])
    if not len(every):
        return float("inf"), float("inf")
    return float(np.median(every.widths)), float(np.median(every.heights))


def _follow(
    clip: _Clip,
    out: FollowedPlayer,
    span: tuple[int, int, int],
    bridge: int,
    model: np.ndarray,
    offset: tuple[float, float],
) -> None:
    """One direction of the follow, ``span = (start, step, stop)``: from ``start`` (known)
    towards ``stop`` (excluded), written into ``out``; ``model`` is the player's colour
    histogram (all zeros: unknown), updated in place; ``offset``: the anchor from the
    box centre."""
    start, step, stop = span
    ox, oy = offset
    x, y, w, h = out.boxes[start]
    cx, cy = x + w / 2, y + h / 2
    tw, th = clip.typical
    own = (w, h) if w <= MERGED * tw and h <= MERGED * th else (tw, th)  # his size, alone
    vx = vy = 0.0
    missing = 0
    others = _others(clip.frames[start], Box(x, y, w, h))
    for f in range(start + step, stop, step):
        px, py = cx + vx * (missing + 1), cy + vy * (missing + 1)
        lost = missing > bridge
        guess = _Guess(
            predicted=Box(px - w / 2, py - h / 2, w, h),
            anchor=(px + ox, py + oy),
            gate=(LOST_GATE if lost else GATE) * max(w, h),
            likeness=REFIND_LIKENESS if lost else MIN_LIKENESS,
            merged=w > MERGED * tw or h > MERGED * th,
        )
        candidates = clip.frames[f]
        barred = np.isin(candidates.tracker_id, others) if missing else None
        match = _best(candidates, model, guess, barred)
        if match is None:
            missing += 1
            if missing <= bridge:
                out.boxes[f] = guess.predicted.xywh
                out.seen[f] = FILLED
            continue
        m, look = match.box, match.look
        alone = max(m.w / w, w / m.w, m.h / h, h / m.h) < 1.3
        if alone and look.any() and model.any() and similarity(look, model) >= REFIND_LIKENESS:
            model += LOOK_GAIN * (look - model)  # not from a blob merged with someone else
        mcx, mcy = m.centre
        gap = missing + 1
        ax, ay = guess.anchor
        if m.w * SIZE_RATIO < w or m.h * SIZE_RATIO < h:
            w, h = m.w, m.h  # split off a merged blob: this part is the player
            vx = vy = 0.0
            if guess.merged and look.any():  # and these are his colours, not the group's
                model[:] = look
        else:
            vx += VELOCITY_GAIN * ((mcx - cx) / gap - vx)
            vy += VELOCITY_GAIN * ((mcy - cy) / gap - vy)
            w += SIZE_GAIN * (m.w - w)
            h += SIZE_GAIN * (m.h - h)
        cx, cy = mcx, mcy
        settle = 1.0 if guess.merged else 1 - ANCHOR_DECAY  # in a group the anchor is all
        ox = float(np.clip(ax - cx, -w / 2, w / 2)) * settle
        oy = float(np.clip(ay - cy, -h / 2, h / 2)) * settle
        missing = 0
        others = _others(candidates, m)
        out.seen[f] = FILLED if match.interpolated else SEEN
        if w > MERGED * tw or h > MERGED * th:  # in a group: he is at the anchor, his size
            out.boxes[f] = (cx + ox - own[0] / 2, cy + oy - own[1] / 2, *own)
        else:
            own = (w, h)
            out.boxes[f] = (cx - w / 2, cy - h / 2, w, h)


def _others(candidates: Boxes, box: Box) -> np.ndarray:
    """The track ids of the ``candidates`` that are someone else: tracked, and apart
    from the player's own ``box`` (a part of his own blob is not)."""
    apart = candidates.apart_from(box) & (candidates.tracker_id >= 0)
    ids: np.ndarray = np.unique(candidates.tracker_id[apart])
    return ids


def _best(
    candidates: Boxes, model: np.ndarray, guess: _Guess, barred: np.ndarray | None = None
) -> _Match | None:
    """The box that best fits the ``guess`` (centre and size): within its gate, of a
    similar size (or a smaller part under the anchor), at least as alike in colour as it
    asks where both are described, and cheapest in distance plus unlikeness, less a bonus
    under the anchor; None when none fits. While the player's box is merged with others,
    its colours are the group's: a part under the anchor is taken whatever its colours.
    ``barred`` boxes are someone else (tracked apart from him when he was last seen: a
    teammate who stayed in view while he was hidden)."""
    if not len(candidates):
        return None
    p = guess.predicted
    bw, bh = candidates.widths, candidates.heights
    similar = (
        (bw <= SIZE_RATIO * p.w)
        & (bw * SIZE_RATIO >= p.w)
        & (bh <= SIZE_RATIO * p.h)
        & (bh * SIZE_RATIO >= p.h)
    )
    under = candidates.contain(*guess.anchor)
    part = under & (bw * SPLIT >= p.w) & (bh * SPLIT >= p.h) & (bw <= p.w) & (bh <= p.h)
    similar |= part
    px, py = p.centre
    distance = np.hypot(*(candidates.centres - (px, py)).T)
    looks = candidates.looks
    if looks.shape[1] != len(model):  # undescribed boxes
        looks = np.zeros((len(candidates), len(model)))
    alike = np.array([similarity(look, model) for look in looks])
    alike = np.where(np.isnan(alike), guess.likeness, alike)  # undescribed: no evidence
    if guess.merged:
        alike = np.where(part, np.maximum(alike, guess.likeness), alike)
    fits = similar & (distance <= guess.gate) & (alike >= guess.likeness)
    if barred is not None:
        fits &= ~barred
    if not fits.any():
        return None
    cost = distance / guess.gate + LOOK_WEIGHT * (1.0 - alike) - ANCHOR_BONUS * under
    if not guess.merged:  # in a group, his look is the one box that is him alone
        cost += LOOK_BOX_COST * (candidates.tracker_id == BY_LOOK)
    best = int(np.argmin(np.where(fits, cost, np.inf)))
    return _Match(candidates.box(best), bool(candidates.interpolated[best]), looks[best])

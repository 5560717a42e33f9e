"""Follow one player through the detections from the box a user clicked.

Tracker ids on motion blobs fragment: a player's blob splits, merges with a
neighbour's and comes back under a new id several times a second. Following
an id loses the player within half a second. This follows the *player*
instead, frame by frame, forwards and backwards from the clicked frame:

- a constant-velocity prediction of where the player will be;
- the plausible box (see :func:`~pipeline.stages.track_pick.plausible_players`)
  nearest to that prediction, of a similar size, whatever its id;
- when nothing fits the gate (an occlusion, a blob merged with another
  player's), the prediction coasts for up to ``bridge_s`` (reported as
  filled in), then holds and widens its search until the player is re-found
  (reported as lost meanwhile);
- a shot boundary ends the follow: after a hard cut nobody is known to be the
  same player.

Example::

    followed = follow_player(doc, frame=30, box=(600, 300, 40, 100))
    followed.boxes[45], followed.seen[45]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.manifests.detections import INTERP, X1, X2, Y1, Y2, Detections

LOST, FILLED, SEEN = 0, 1, 2  # per frame: how the followed player was known there

GATE = 0.8  # a candidate's centre within this many box sizes of the prediction
LOST_GATE = 2.5  # the search widens to this while the player is lost
SIZE_RATIO = 1.8  # a candidate no more than this much larger or smaller (per side)
VELOCITY_GAIN = 0.4  # how fast the velocity estimate follows new evidence
SIZE_GAIN = 0.2  # how fast the box size follows new evidence


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
) -> FollowedPlayer:
    """Follow the player whose box on ``frame`` is ``box``, through the whole clip.

    ``candidates[i]`` are frame ``i``'s plausible boxes as detection rows (all
    of the frame's rows when not given).
    """
    n = doc.video.frame_count
    rows = candidates if candidates is not None else [doc.rows(i) for i in range(n)]
    boxes = np.full((n, 4), np.nan)
    seen = np.full(n, LOST, dtype=np.int64)
    boxes[frame] = box
    seen[frame] = SEEN
    bridge = max(1, round(bridge_s * doc.video.fps))
    cuts = sorted(doc.shots)
    shot_start = max([0, *(c for c in cuts if c <= frame)])
    shot_end = min([n, *(c for c in cuts if c > frame)])
    for step, stop in ((1, shot_end), (-1, shot_start - 1)):
        _follow(rows, boxes, seen, frame, step, stop, bridge)
    return FollowedPlayer(boxes, seen)


def _follow(
    rows: list[np.ndarray],
    boxes: np.ndarray,
    seen: np.ndarray,
    start: int,
    step: int,
    stop: int,
    bridge: int,
) -> None:
    """One direction of the follow, from ``start`` (known) towards ``stop`` (excluded)."""
    x, y, w, h = boxes[start]
    cx, cy = x + w / 2, y + h / 2
    vx = vy = 0.0
    missing = 0
    for f in range(start + step, stop, step):
        px, py = cx + vx * (missing + 1), cy + vy * (missing + 1)
        gate = (LOST_GATE if missing > bridge else GATE) * max(w, h)
        match = _nearest(rows[f], px, py, w, h, gate)
        if match is None:
            missing += 1
            if missing <= bridge:
                boxes[f] = (px - w / 2, py - h / 2, w, h)
                seen[f] = FILLED
            continue
        mx1, my1, mx2, my2, interpolated = match
        mcx, mcy = (mx1 + mx2) / 2, (my1 + my2) / 2
        span = missing + 1
        vx += VELOCITY_GAIN * ((mcx - cx) / span - vx)
        vy += VELOCITY_GAIN * ((mcy - cy) / span - vy)
        w += SIZE_GAIN * ((mx2 - mx1) - w)
        h += SIZE_GAIN * ((my2 - my1) - h)
        cx, cy = mcx, mcy
        missing = 0
        boxes[f] = (cx - w / 2, cy - h / 2, w, h)
        seen[f] = FILLED if interpolated else SEEN


def _nearest(
    rows: np.ndarray, px: float, py: float, w: float, h: float, gate: float
) -> tuple[float, float, float, float, bool] | None:
    """The box nearest to ``(px, py)`` within ``gate`` and of a similar size, or None."""
    if not len(rows):
        return None
    bw, bh = rows[:, X2] - rows[:, X1], rows[:, Y2] - rows[:, Y1]
    similar = (
        (bw <= SIZE_RATIO * w)
        & (bw * SIZE_RATIO >= w)
        & (bh <= SIZE_RATIO * h)
        & (bh * SIZE_RATIO >= h)
    )
    distance = np.hypot((rows[:, X1] + rows[:, X2]) / 2 - px, (rows[:, Y1] + rows[:, Y2]) / 2 - py)
    distance = np.where(similar, distance, np.inf)
    best = int(np.argmin(distance))
    if distance[best] > gate:
        return None
    r = rows[best]
    return float(r[X1]), float(r[Y1]), float(r[X2]), float(r[Y2]), bool(r[INTERP])

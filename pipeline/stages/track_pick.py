"""The player a user picked, followed through the detections.

A click (``frame``, ``x``, ``y`` in source pixels) picks the tracked box under
it, on the nearest frame with tracked boxes (or the nearest box centre within
reach); a ``track_id`` names the track directly. The track becomes box
keyframes plus a strength per frame: short gaps are bridged at full strength,
a longer loss fades the spotlight out (and back in when the player returns).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.errors import StageParamsInvalid
from pipeline.manifests.detections import TRACK, X1, X2, Y1, Y2, Detections
from pipeline.manifests.job import Highlight

CLICK_REACH = 0.08  # of the frame width: how far from a box a click may land
SEARCH_FRAMES = 15  # how far from the clicked frame to look for tracked boxes


@dataclass(frozen=True)
class PickedTrack:
    """A track as highlight keyframes ``[frame, x, y, w, h]`` and a per-frame strength."""

    track_id: int
    keyframes: list[tuple[int, float, float, float, float]]
    strength: np.ndarray


def pick_track(
    doc: Detections, highlight: Highlight, *, bridge_s: float = 0.5, fade_s: float = 0.4
) -> PickedTrack:
    """The highlighted track; StageParamsInvalid when the click or id matches none."""
    if not doc.track_ids():
        raise StageParamsInvalid(
            "the detections have no tracked players (tracking needs the ml extra), so a "
            "click or track_id cannot be followed; give highlight 'boxes' instead"
        )
    if highlight.track_id is not None:
        track = highlight.track_id
        if track not in doc.track_ids():
            raise StageParamsInvalid(
                f"highlight.track_id {track}: no such track (the detections have "
                f"{len(doc.track_ids())} tracks)"
            )
    else:
        assert highlight.frame is not None and highlight.x is not None and highlight.y is not None
        track = _track_at(doc, highlight.frame, highlight.x, highlight.y)
    boxes = doc.track_boxes(track)
    fps = doc.video.fps
    keyframes = [(f, *box) for f, box in sorted(boxes.items())]
    strength = _strength(sorted(boxes), doc.video.frame_count, round(bridge_s * fps), fade_s * fps)
    return PickedTrack(track, keyframes, strength)


def _track_at(doc: Detections, frame: int, x: float, y: float) -> int:
    n = doc.video.frame_count
    if frame >= n:
        raise StageParamsInvalid(f"highlight.frame {frame}: the clip has {n} frames")
    reach = CLICK_REACH * doc.video.width
    for offset in sorted(range(-SEARCH_FRAMES, SEARCH_FRAMES + 1), key=abs):
        f = frame + offset
        if not 0 <= f < n:
            continue
        rows = doc.rows(f)
        rows = rows[rows[:, TRACK] >= 0]
        if not len(rows):
            continue
        inside = (rows[:, X1] <= x) & (x <= rows[:, X2]) & (rows[:, Y1] <= y) & (y <= rows[:, Y2])
        if inside.any():
            areas = (rows[:, X2] - rows[:, X1]) * (rows[:, Y2] - rows[:, Y1])
            return int(rows[inside][np.argmin(areas[inside]), TRACK])
        dx = np.maximum(0, np.maximum(rows[:, X1] - x, x - rows[:, X2]))
        dy = np.maximum(0, np.maximum(rows[:, Y1] - y, y - rows[:, Y2]))
        distance = np.hypot(dx, dy)
        if distance.min() <= reach:
            return int(rows[np.argmin(distance), TRACK])
    raise StageParamsInvalid(
        f"highlight: no tracked player at ({x:g}, {y:g}) near frame {frame}; "
        "click on a player, or give a track_id"
    )


def _strength(seen: list[int], n: int, bridge: int, fade: float) -> np.ndarray:
    """1 where seen or in a bridged gap; fading with the distance to the track elsewhere."""
    present = np.zeros(n, dtype=bool)
    present[seen] = True
    for a, b in itertools.pairwise(seen):
        if b - a - 1 <= bridge:
            present[a:b] = True
    index = np.arange(n)
    hits = np.flatnonzero(present)
    position = np.searchsorted(hits, index)
    before = np.abs(index - hits[np.clip(position - 1, 0, len(hits) - 1)])
    after = np.abs(hits[np.clip(position, 0, len(hits) - 1)] - index)
    distance = np.minimum(before, after)
    result: np.ndarray = np.clip(1.0 - distance / max(fade, 1.0), 0.0, 1.0)
    return result

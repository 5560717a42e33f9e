"""The player a user picked, followed through the detections.

A click (``frame``, ``x``, ``y`` in source pixels) picks the tracked box under
it, on the nearest frame with tracked boxes (or the nearest box within
reach); a ``track_id`` names the track directly. A clicked player is then
followed through the detections whatever their ids
(:mod:`pipeline.follow.player`): ids on motion blobs fragment several
times a second, the player does not. Only a plausible player
counts: a box no wider than half the frame, of a person's shape (taller than
wide, within reason) and size. A click on nothing of the kind fails with a
message saying what was near it, never a frame-sized "spotlight". The track
becomes box keyframes plus a strength per frame: short gaps are bridged at
full strength, a longer loss fades the spotlight out (and back in when the
player returns). What was picked, and where the player was seen, filled in
or lost, is reported for the status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.contract import PLAYER
from pipeline.follow import highlight_path
from pipeline.follow.player import BY_LOOK, FILLED, LOST, SEEN, follow_player
from pipeline.manifests.detections import (
    INTERP,
    TRACK,
    X1,
    X2,
    Y1,
    Y2,
    Detections,
    FollowedLook,
    decode_look,
)
from pipeline.manifests.job import Highlight

CLICK_REACH = 0.08  # of the frame width: how far from a box a click may land
SEARCH_FRAMES = 15  # how far from the clicked frame to look for tracked boxes
MAX_WIDTH = 0.5  # of the frame width
MAX_HEIGHT = 0.95  # of the frame height
MIN_HEIGHT = 0.02  # of the frame height
ASPECT = (0.15, 1.5)  # width / height of a standing, running or crouching person
SMOOTH_S = 0.1  # the drawn path is smoothed over about this long (a Gaussian's sigma)


@dataclass(frozen=True)
class PickedTrack:
    """A track as highlight keyframes ``[frame, x, y, w, h]`` and a per-frame strength,
    with where it was picked and how it was seen (``LOST``, ``FILLED``, ``SEEN``)."""

    track_id: int
    keyframes: list[tuple[int, float, float, float, float]]
    strength: np.ndarray
    frame: int
    box: tuple[float, float, float, float]
    seen: np.ndarray

    def centres(self, frames: int) -> np.ndarray:
        """(frames, 2) the player's centre per frame, NaN where the highlight is not on."""
        kf = np.asarray(self.keyframes, dtype=np.float64).reshape(-1, 5)
        index = np.arange(frames)
        centre = np.column_stack(
            [
                np.interp(index, kf[:, 0], kf[:, 1] + kf[:, 3] / 2),
                np.interp(index, kf[:, 0], kf[:, 2] + kf[:, 4] / 2),
            ]
        )
        strength = np.zeros(frames)
        strength[: min(frames, len(self.strength))] = self.strength[:frames]
        centre[strength < 1.0] = np.nan
        return centre

    def summary(self, backend: str) -> dict[str, object]:
        """What was picked, for the status (``stages.<stage>.details.picked``)."""
        return {
            "track_id": self.track_id,
            "frame": self.frame,
            "box": [round(v, 1) for v in self.box],
            "backend": backend,
        }


def plausible_players(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which boxes could be a person: size and shape, in a ``width`` x ``height`` frame."""
    w, h = rows[:, X2] - rows[:, X1], rows[:, Y2] - rows[:, Y1]
    aspect = w / np.maximum(h, 1e-6)
    mask: np.ndarray = (
        (w <= MAX_WIDTH * width)
        & (h <= MAX_HEIGHT * height)
        & (h >= MIN_HEIGHT * height)
        & (aspect >= ASPECT[0])
        & (aspect <= ASPECT[1])
    )
    return mask


def pick_track(
    doc: Detections, highlight: Highlight, *, bridge_s: float = 0.5, fade_s: float = 0.4
) -> PickedTrack:
    """The highlighted track; StageParamsInvalid when the click or id matches none."""
    if not doc.track_ids():
        raise StageParamsInvalid(
            "the detections have no tracked players (no player was found for long enough "
            "to be tracked), so a click or track_id cannot be followed; give highlight "
            "'boxes' instead"
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
        track, frame, box = player_at(doc, highlight.frame, highlight.x, highlight.y)
        bx, by, bw, bh = box
        click = (min(max(highlight.x, bx), bx + bw), min(max(highlight.y, by), by + bh))
        looked = next(
            (f for f in doc.looks_followed if f.clicked(highlight.frame, highlight.x, highlight.y)),
            None,
        )
        beside = click != (highlight.x, highlight.y)  # the click fell beside every box
        return _followed(
            doc, track, frame, box, click, looked, fade_s=fade_s, bridge_s=bridge_s, beside=beside
        )
    found = doc.track_boxes(track)
    n, fps = doc.video.frame_count, doc.video.fps
    boxes = np.full((n, 4), np.nan)
    boxes[sorted(found)] = [found[f] for f in sorted(found)]
    boxes = _drawn_path(doc, boxes)
    bridge = round(bridge_s * fps)
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    strength = highlight_path.strength(present.tolist(), n, bridge, fade_s * fps, doc.shots)
    seen = np.where(highlight_path.bridged(present.tolist(), n, bridge, doc.shots), FILLED, LOST)
    for f in _detected_frames(doc, track):
        seen[f] = SEEN
    picked_at = highlight.frame if highlight.frame is not None else min(found)
    nearest = int(min(present, key=lambda f: abs(f - picked_at)))
    bx, by, bw, bh = (float(v) for v in boxes[nearest])
    keyframes = highlight_path.held_keyframes(boxes, bridge)
    return PickedTrack(track, keyframes, strength, nearest, (bx, by, bw, bh), seen)


def _drawn_path(doc: Detections, boxes: np.ndarray) -> np.ndarray:
    """The per-frame boxes (n, 4) as they are drawn: smoothed (a ring that follows every
    wobble of a detector's box jitters), then kept inside the frame."""
    sigma = SMOOTH_S * doc.video.fps
    smooth = highlight_path.smoothed(boxes, doc.shots, sigma)
    return highlight_path.clamped(smooth, doc.video.width, doc.video.height)


def _followed(
    doc: Detections,
    track: int,
    frame: int,
    box: tuple[float, float, float, float],
    click: tuple[float, float],
    looked: FollowedLook | None,
    *,
    fade_s: float,
    bridge_s: float,
    beside: bool = False,
) -> PickedTrack:
    """The clicked player followed through every plausible box, whatever its id
    (:mod:`pipeline.follow.player`), from the box picked at the click; where
    the detect pass followed him by his look, that box is one more candidate."""
    n, width, height = doc.video.frame_count, doc.video.width, doc.video.height
    candidates, looks = [], []
    for i in range(n):
        rows = doc.rows(i)
        keep = plausible_players(rows, width, height)
        keep &= rows[:, INTERP] == 0  # a tracker's fill-ins are guesses: the follow predicts
        candidates.append(rows[keep])
        looks.append(doc.looks(i)[keep])
    look = _look_of(candidates[frame], looks[frame], box)
    size = None
    found = zip(looked.boxes, looked.appearance, strict=True) if looked is not None else ()
    for (f, x, y, w, h), colours in found:
        if not 0 <= f < n:
            continue
        row = np.array([[PLAYER, 0.5, BY_LOOK, x, y, x + w, y + h, 0]], dtype=np.float64)
        candidates[f] = np.vstack([candidates[f], row])
        looks[f] = np.vstack([looks[f], decode_look(colours)])
        if f == frame and beside:
            # The click was beside every box (a player standing still gives no blob):
            # start from the template centred on it, at its size and colours.
            box, size, look = (x, y, w, h), (w, h), looks[f][-1]
    followed = follow_player(
        doc,
        frame,
        box,
        bridge_s=bridge_s,
        candidates=candidates,
        looks=looks,
        look=look,
        anchor=click,
        size=size,
    )
    boxes = followed.boxes.copy()
    boxes[followed.seen < FILLED] = np.nan
    boxes = _drawn_path(doc, boxes)
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    seen = np.where(np.isnan(boxes).any(axis=1), LOST, followed.seen)
    keyframes = highlight_path.held_keyframes(boxes, 0)
    strength = highlight_path.strength(present.tolist(), n, 0, fade_s * doc.video.fps, doc.shots)
    x, y, w, h = (float(v) for v in highlight_path.clamped(np.array([box]), width, height)[0])
    return PickedTrack(track, keyframes, strength, frame, (x, y, w, h), seen)


def _look_of(
    rows: np.ndarray, looks: np.ndarray, box: tuple[float, float, float, float]
) -> np.ndarray:
    """The colours of the row whose box is ``box`` (the picked one); all zeros (unknown)
    when the frame has no detected row (the pick fell on a frame filled in between)."""
    if not len(rows):
        return np.zeros(looks.shape[1])
    x, y, _, _ = box
    index = int(np.argmin(np.hypot(rows[:, X1] - x, rows[:, Y1] - y)))
    look: np.ndarray = looks[index]
    return look


def _detected_frames(doc: Detections, track: int) -> list[int]:
    """Frames where the track was detected, not filled in."""
    return [
        i
        for i, rows in enumerate(doc.frames)
        if any(r[TRACK] == track and not r[INTERP] for r in rows)
    ]


def coverage(seen_per_frame: list[int], fps: float) -> list[str]:
    """Per output second: ``found``, ``coasted`` (on the predicted path while he was
    hidden, or between two sightings) or ``lost``, by what most of its frames were (a
    compact record for apps that warn when the spotlight was off)."""
    per_second = max(1, round(fps))
    names = {SEEN: "found", FILLED: "coasted", LOST: "lost"}
    out = []
    for start in range(0, len(seen_per_frame), per_second):
        chunk = seen_per_frame[start : start + per_second]
        counts = {v: chunk.count(v) for v in (SEEN, FILLED, LOST)}
        if counts[LOST] * 2 > len(chunk):
            out.append(names[LOST])
        elif counts[SEEN] * 2 >= len(chunk):
            out.append(names[SEEN])
        else:
            out.append(names[FILLED])
    return out


def player_at(
    doc: Detections, frame: int, x: float, y: float
) -> tuple[int, int, tuple[float, float, float, float]]:
    """The plausible player box under (or near) the click: its track, frame and box."""
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
        rows = rows[plausible_players(rows, doc.video.width, doc.video.height)]
        if not len(rows):
            continue
        inside = (rows[:, X1] <= x) & (x <= rows[:, X2]) & (rows[:, Y1] <= y) & (y <= rows[:, Y2])
        if inside.any():
            areas = (rows[:, X2] - rows[:, X1]) * (rows[:, Y2] - rows[:, Y1])
            return _picked(rows[inside][np.argmin(areas[inside])], f)
        dx = np.maximum(0, np.maximum(rows[:, X1] - x, x - rows[:, X2]))
        dy = np.maximum(0, np.maximum(rows[:, Y1] - y, y - rows[:, Y2]))
        distance = np.hypot(dx, dy)
        if distance.min() <= reach:
            return _picked(rows[np.argmin(distance)], f)
    raise StageParamsInvalid(
        f"highlight: no player at ({x:g}, {y:g}) near frame {frame}: "
        f"{_what_is_near(doc, frame, x, y)}; click on a player, or give a track_id"
    )


def _picked(row: np.ndarray, frame: int) -> tuple[int, int, tuple[float, float, float, float]]:
    box = (float(row[X1]), float(row[Y1]), float(row[X2] - row[X1]), float(row[Y2] - row[Y1]))
    return int(row[TRACK]), frame, box


def _what_is_near(doc: Detections, frame: int, x: float, y: float) -> str:
    """What the detections hold around the click, for the error message."""
    rows = doc.rows(frame)
    if not len(rows):
        return f"nothing was detected on frame {frame}"
    width, height = doc.video.width, doc.video.height
    cx, cy = (rows[:, X1] + rows[:, X2]) / 2, (rows[:, Y1] + rows[:, Y2]) / 2
    r = rows[int(np.argmin(np.hypot(cx - x, cy - y)))]
    w, h = r[X2] - r[X1], r[Y2] - r[Y1]
    why = ""
    if not plausible_players(r.reshape(1, -1), width, height)[0]:
        why = (
            " (too large or not a person's shape)"
            if w > MAX_WIDTH * width
            else (" (not a person's size or shape)")
        )
    return (
        f"the nearest box is {w:.0f}x{h:.0f} at ({r[X1]:.0f}, {r[Y1]:.0f}){why}, "
        f"of {len(rows)} on that frame"
    )

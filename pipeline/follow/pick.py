"""The player a user picked, followed through the detections.

A click (``frame``, ``x``, ``y`` in source pixels) picks the tracked box under
it, on the nearest frame with tracked boxes (or the nearest box within
reach); a ``track_id`` names the track directly. A clicked player is then
followed through the detections whatever their ids
(:mod:`pipeline.follow.player`): ids on motion blobs fragment several
times a second, the player does not. Only a plausible player
counts: a box no wider than half the frame, of a person's shape (taller than
wide, within reason) and size. A click on nothing of the kind fails with a
message saying what was near it, never a frame-sized "spotlight". A clicked
person who fills the frame himself (a close-up: his head and shoulders) is then
lit by his whole extent, not by the part of him that moved
(:mod:`pipeline.follow.close_up`). The track becomes box keyframes plus a
strength per frame: short gaps are bridged at full strength, a longer loss
fades the spotlight out (and back in when the player returns). What was
picked, and where the player was seen, filled in or lost, is reported for the
status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.boxes import Box, Boxes, Keyframe
from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.contract import PLAYER
from pipeline.follow import highlight_path
from pipeline.follow.close_up import close_up_extent
from pipeline.follow.player import BY_LOOK, FILLED, LOST, SEEN, FollowStart, follow_player
from pipeline.manifests.detections import (
    APPEARANCE_BINS,
    INTERP,
    TRACK,
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
COAST_VISIBLE = 0.5  # a coasted box with less of it inside the picture has left it
EDGE = 0.01  # of the frame width: a box this near a side is at the picture's edge


@dataclass(frozen=True)
class PickedTrack:
    """A track as highlight keyframes ``[frame, x, y, w, h]`` and a per-frame strength,
    with where it was picked and how it was seen (``LOST``, ``FILLED``, ``SEEN``)."""

    track_id: int
    keyframes: list[Keyframe]
    strength: np.ndarray
    frame: int
    box: Box
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
            "box": [round(v, 1) for v in self.box.xywh],
            "backend": backend,
        }


@dataclass(frozen=True)
class Timing:
    """How long the light bridges a gap at full strength, and how long it fades."""

    bridge_s: float = 0.5
    fade_s: float = 0.4


@dataclass(frozen=True)
class Hit:
    """The tracked box a click picked: its track, frame and box."""

    track: int
    frame: int
    box: Box


@dataclass(frozen=True)
class _Click:
    """The point clicked (moved onto the picked box), the detect pass's follow of it by
    look, and whether the click fell beside every box (a player standing still)."""

    point: tuple[float, float]
    looked: FollowedLook | None
    beside: bool


def plausible_players(boxes: Boxes, width: int, height: int) -> np.ndarray:
    """Which boxes could be a person: size and shape, in a ``width`` x ``height`` frame."""
    w, h = boxes.widths, boxes.heights
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
        hit = player_at(doc, highlight.frame, highlight.x, highlight.y)
        point = hit.box.clamp_point(highlight.x, highlight.y)
        looked = next(
            (f for f in doc.looks_followed if f.clicked(highlight.frame, highlight.x, highlight.y)),
            None,
        )
        beside = point != (highlight.x, highlight.y)  # the click fell beside every box
        return _followed(doc, hit, _Click(point, looked, beside), Timing(bridge_s, fade_s))
    found = doc.track_boxes(track)
    n, fps = doc.video.frame_count, doc.video.fps
    boxes = np.full((n, 4), np.nan)
    boxes[sorted(found)] = [found[f].xywh for f in sorted(found)]
    boxes = _drawn_path(doc, boxes)
    bridge = round(bridge_s * fps)
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    strength = highlight_path.strength(present.tolist(), n, bridge, fade_s * fps, doc.shots)
    seen = np.where(highlight_path.bridged(present.tolist(), n, bridge, doc.shots), FILLED, LOST)
    for f in _detected_frames(doc, track):
        seen[f] = SEEN
    picked_at = highlight.frame if highlight.frame is not None else min(found)
    nearest = int(min(present, key=lambda f: abs(f - picked_at)))
    keyframes = highlight_path.held_keyframes(boxes, bridge)
    return PickedTrack(track, keyframes, strength, nearest, Box.of(boxes[nearest]), seen)


def _drawn_path(doc: Detections, boxes: np.ndarray) -> np.ndarray:
    """The per-frame boxes (n, 4) as they are drawn: smoothed (a ring that follows every
    wobble of a detector's box jitters), then kept inside the frame."""
    sigma = SMOOTH_S * doc.video.fps
    smooth = highlight_path.smoothed(boxes, doc.shots, sigma)
    return highlight_path.clamped(smooth, doc.video.width, doc.video.height)


def _followed(doc: Detections, hit: Hit, click: _Click, timing: Timing) -> PickedTrack:
    """The clicked player followed through every plausible box, whatever its id
    (:mod:`pipeline.follow.player`), from the box picked at the click; where
    the detect pass followed him by his look, that box is one more candidate. A person
    who fills the frame (a close-up, :mod:`pipeline.follow.close_up`) is lit by his whole
    extent, not by the part of him followed."""
    n, width, height = doc.video.frame_count, doc.video.width, doc.video.height
    candidates = []
    for i in range(n):
        found = doc.boxes(i)
        # a tracker's fill-ins are guesses: the follow predicts for itself
        candidates.append(found[plausible_players(found, width, height) & ~found.interpolated])
    start = FollowStart(hit.frame, hit.box, _look_of(candidates[hit.frame], hit.box), click.point)
    for (f, x, y, w, h), colours in _looks_found(click.looked):
        if not 0 <= f < n:
            continue
        by_look = Boxes(
            [[x, y, x + w, y + h]],
            class_id=[PLAYER],
            confidence=[0.5],
            tracker_id=[BY_LOOK],
            looks=decode_look(colours).reshape(1, -1),
        )
        candidates[f] = Boxes.concatenate([candidates[f], by_look])
        if f == hit.frame and click.beside:
            # The click was beside every box (a player standing still gives no blob):
            # start from the template centred on it, at its size and colours.
            look = by_look.looks[0]
            start = FollowStart(f, by_look.box(0), look, click.point, size=(w, h))
    followed = follow_player(doc, start, bridge_s=timing.bridge_s, candidates=candidates)
    boxes = followed.boxes.copy()
    boxes[followed.seen < FILLED] = np.nan
    # A prediction that coasts out of the picture, or starts at its edge, is no longer on
    # him: he walked out, he is not hidden.
    left = highlight_path.visible_share(boxes, width, height) < COAST_VISIBLE
    boxes[(followed.seen == FILLED) & left] = np.nan
    for a, b in highlight_path.runs(followed.seen == FILLED, doc.shots):
        if a > 0 and highlight_path.at_edge(followed.boxes[a - 1], width, height, EDGE * width):
            boxes[a:b] = np.nan
    seen = followed.seen
    looks = _look_boxes(click.looked, n)
    anchors = np.where(np.isnan(looks).any(axis=1, keepdims=True), boxes, looks)
    extent = close_up_extent(doc, anchors, start.frame)
    picked = start.box.inside(width, height) or start.box
    if extent is not None:  # he fills the frame: light the whole of him, not the part followed
        boxes = extent
        seen = np.where(np.isnan(looks).any(axis=1), followed.seen, SEEN)
        picked = Box.of(extent[start.frame])
    boxes = _drawn_path(doc, boxes)
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    seen = np.where(np.isnan(boxes).any(axis=1), LOST, seen)
    keyframes = highlight_path.held_keyframes(boxes, 0)
    gone = highlight_path.exits(boxes, width, height, EDGE * width)
    fade = timing.fade_s * doc.video.fps
    strength = highlight_path.strength(present.tolist(), n, 0, fade, doc.shots, gone)
    return PickedTrack(hit.track, keyframes, strength, start.frame, picked, seen)


def _look_boxes(looked: FollowedLook | None, n: int) -> np.ndarray:
    """(n, 4) where the detect pass found the clicked player by his look, NaN elsewhere."""
    out = np.full((n, 4), np.nan)
    for f, x, y, w, h in [] if looked is None else looked.boxes:
        if 0 <= f < n:
            out[f] = (x, y, w, h)
    return out


def _looks_found(
    looked: FollowedLook | None,
) -> list[tuple[Keyframe, str]]:
    """Where the detect pass found the clicked player by his look, and his colours."""
    return [] if looked is None else list(zip(looked.boxes, looked.appearance, strict=True))


def _look_of(candidates: Boxes, box: Box) -> np.ndarray:
    """The colours of the candidate whose box is ``box`` (the picked one); all zeros
    (unknown) when the frame has no detected box (the pick fell on a frame filled in
    between)."""
    if not len(candidates) or not candidates.looks.shape[1]:
        return np.zeros(APPEARANCE_BINS)
    index = int(np.argmin(np.hypot(candidates.x1 - box.x, candidates.y1 - box.y)))
    look: np.ndarray = candidates.looks[index]
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


def player_at(doc: Detections, frame: int, x: float, y: float) -> Hit:
    """The plausible player box under (or near) the click: its track, frame and box."""
    n = doc.video.frame_count
    if frame >= n:
        raise StageParamsInvalid(f"highlight.frame {frame}: the clip has {n} frames")
    reach = CLICK_REACH * doc.video.width
    for offset in sorted(range(-SEARCH_FRAMES, SEARCH_FRAMES + 1), key=abs):
        f = frame + offset
        if not 0 <= f < n:
            continue
        boxes = doc.boxes(f)
        boxes = boxes[boxes.tracker_id >= 0]
        boxes = boxes[plausible_players(boxes, doc.video.width, doc.video.height)]
        if not len(boxes):
            continue
        inside = boxes.contain(x, y)
        if inside.any():
            smallest = np.flatnonzero(inside)[np.argmin(boxes.areas[inside])]
            return Hit(int(boxes.tracker_id[smallest]), f, boxes.box(int(smallest)))
        distance = boxes.distance_to(x, y)
        if distance.min() <= reach:
            nearest = int(np.argmin(distance))
            return Hit(int(boxes.tracker_id[nearest]), f, boxes.box(nearest))
    raise StageParamsInvalid(
        f"highlight: no player at ({x:g}, {y:g}) near frame {frame}: "
        f"{_what_is_near(doc, frame, x, y)}; click on a player, or give a track_id"
    )


def _what_is_near(doc: Detections, frame: int, x: float, y: float) -> str:
    """What the detections hold around the click, for the error message."""
    boxes = doc.boxes(frame)
    if not len(boxes):
        return f"nothing was detected on frame {frame}"
    width, height = doc.video.width, doc.video.height
    nearest = int(np.argmin(np.hypot(*(boxes.centres - (x, y)).T)))
    r = boxes.box(nearest)
    why = ""
    if not plausible_players(boxes[[nearest]], width, height)[0]:
        why = (
            " (too large or not a person's shape)"
            if r.w > MAX_WIDTH * width
            else (" (not a person's size or shape)")
        )
    return (
        f"the nearest box is {r.w:.0f}x{r.h:.0f} at ({r.x:.0f}, {r.y:.0f}){why}, "
        f"of {len(boxes)} on that frame"
    )

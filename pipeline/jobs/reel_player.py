"""A player's reel: the moments the player is in and part of, and his look in other clips.

A clip that lights a player (its overlay's click, the reel's ``player`` click, or a
confirmed track) has him followed through its detections
(:func:`pipeline.follow.pick.pick_track`, the overlay's own follow). A moment is
kept when he is in the picture on at least half its frames (seen, or coasted on
his path) and involved on some of them: near the ball (his feet within
``NEAR_BALL`` of his heights of it; where the ball is not found, as with the
classical detector, near the action's centre) or moving fast (``FAST`` of his
heights a second, a run). Each kept moment says so in its reasons, and scores up by
how much he is in it.

The other clips of the reel (the same game) are offered, never applied: each of their
tracks seen long enough is scored by how alike its colours are to his
(:func:`pipeline.detect.appearance.similarity` of the mean histograms), and the
best few over ``OFFER_MIN`` go into the reel's status for the user to confirm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.appearance import similarity
from pipeline.detect.moments import FoundMoment
from pipeline.follow.pick import pick_track, plausible_players
from pipeline.follow.player import LOST
from pipeline.manifests.detections import TRACK, X1, X2, Y1, Y2, Detections
from pipeline.manifests.job import Highlight
from pipeline.manifests.reel import PlayerOffer
from pipeline.manifests.timeline import FramingTimeline

NEAR_BALL = 1.5  # his heights between his feet and the ball
NEAR_ACTION = 2.5  # his heights between his centre and the action's (no ball found)
FAST = 1.5  # his heights a second: a run, not a walk
SPEED_S = 0.3  # his speed is measured over this long (a box's jitter is not a run)
IN_FRAME = 0.5  # of a moment's frames: he must be in the picture on this many
INVOLVED = 0.2  # of a moment's frames: near the ball or running on this many
PLAYER_WEIGHT = 2.0  # a moment he is in throughout scores this much more
OFFER_MIN = 0.5  # an offer's score at least (a team's shirt scores ~0.9, the other ~0.3)
OFFERS_PER_CLIP = 3
MIN_TRACK_S = 0.5  # a track seen for less is not offered


@dataclass(frozen=True)
class PlayerFrames:
    """Per source frame of a clip: whether the player is in the picture, near the ball
    (or the action), and running."""

    in_frame: np.ndarray
    near: np.ndarray
    fast: np.ndarray
    fps: float
    ball_known: bool

    @classmethod
    def of(cls, doc: Detections, highlight: Highlight) -> PlayerFrames:
        """The player ``highlight`` names, followed through ``doc``."""
        picked = pick_track(doc, highlight)
        n, fps = doc.video.frame_count, doc.video.fps
        boxes = _per_frame(picked.keyframes, n)
        in_frame = (picked.seen != LOST) & ~np.isnan(boxes).any(axis=1)
        h = np.where(in_frame, boxes[:, 3], np.nan)
        feet = np.stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]], axis=1)
        centre = feet - np.stack([np.zeros(n), boxes[:, 3] / 2], axis=1)
        ball, action = doc.ball_array(), doc.action_array()
        ball_known = bool((~np.isnan(ball[:, 0])).any())
        with np.errstate(invalid="ignore"):
            if ball_known:
                near = np.hypot(*(feet - ball).T) <= NEAR_BALL * h
            else:
                near = np.hypot(*(centre - action).T) <= NEAR_ACTION * h
            lag = max(1, round(SPEED_S * fps))
            moved = np.full(n, np.nan)
            moved[lag:] = np.hypot(*(centre[lag:] - centre[:-lag]).T)
            fast = moved * fps / lag >= FAST * h
        return cls(in_frame, near & in_frame, fast & in_frame, fps, ball_known)

    def judge(self, moment: FoundMoment, timeline: FramingTimeline | None) -> FoundMoment | None:
        """``moment`` (in the rendered file's time) scored up and saying why, when he is
        in it and part of it; None when he is not."""
        start, end = moment.start_s, moment.end_s
        if timeline is not None:
            start, end = timeline.source_time(start), timeline.source_time(end)
        a = max(0, round(start * self.fps))
        b = min(len(self.in_frame), max(a + 1, round(end * self.fps)))
        if a >= b:
            return None
        share = float(self.in_frame[a:b].mean())
        near, fast = float(self.near[a:b].mean()), float(self.fast[a:b].mean())
        involved = float((self.near[a:b] | self.fast[a:b]).mean())
        if share < IN_FRAME or involved < INVOLVED:
            return None
        reasons = [*moment.reasons, f"the player in it {share:.0%}"]
        if near > 0:
            what = "the ball" if self.ball_known else "the action"
            reasons.append(f"the player near {what} {near:.0%} of it")
        if fast > 0:
            reasons.append(f"the player running {fast:.0%} of it")
        score = moment.score + PLAYER_WEIGHT * share + involved
        return FoundMoment(moment.start_s, moment.end_s, score, tuple(reasons))


def _per_frame(keyframes: list[tuple[int, float, float, float, float]], n: int) -> np.ndarray:
    """(n, 4) boxes between the keyframes (NaN outside them)."""
    out = np.full((n, 4), np.nan)
    if not keyframes:
        return out
    rows = np.asarray(keyframes, dtype=np.float64)
    frames = np.arange(n)
    inside = (frames >= rows[0, 0]) & (frames <= rows[-1, 0])
    for k in range(4):
        out[inside, k] = np.interp(frames[inside], rows[:, 0], rows[:, k + 1])
    return out


def player_moments(
    found: list[FoundMoment], frames: PlayerFrames, timeline: FramingTimeline | None
) -> list[FoundMoment]:
    """The moments the player is in and part of, best first, each saying why."""
    judged = [frames.judge(m, timeline) for m in found]
    return sorted((m for m in judged if m is not None), key=lambda m: -m.score)


# -- offers ------------------------------------------------------------------------


Xywh = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackLook:
    """A track's colours: their mean over its boxes, and each box with its own."""

    mean: np.ndarray
    views: list[tuple[int, Xywh, np.ndarray]]  # source frame, box [x, y, w, h], its look

    def best_view(self, look: np.ndarray) -> tuple[int, Xywh]:
        """The frame and box where the track looks most like ``look`` (of two alike, the
        smaller box: a box of several players merged is larger)."""
        frame, box, _ = max(
            self.views, key=lambda v: (round(similarity(look, v[2]), 3), -v[1][2] * v[1][3])
        )
        return frame, box


def track_looks(doc: Detections) -> dict[int, TrackLook]:
    """Per track seen long enough on plausible player boxes: its colours."""
    views: dict[int, list[tuple[int, Xywh, np.ndarray]]] = {}
    width, height = doc.video.width, doc.video.height
    for f in range(doc.video.frame_count):
        boxes, rows, looks = doc.boxes(f), doc.rows(f), doc.looks(f)
        plausible = plausible_players(boxes, width, height)
        for row, look, ok in zip(rows, looks, plausible, strict=True):
            track = int(row[TRACK])
            if track < 0 or not ok or not look.any():
                continue
            x1, y1, x2, y2 = (float(row[k]) for k in (X1, Y1, X2, Y2))
            views.setdefault(track, []).append((f, (x1, y1, x2 - x1, y2 - y1), look))
    least = max(1, round(MIN_TRACK_S * doc.video.fps))
    return {
        t: TrackLook(np.mean([v[2] for v in seen], axis=0), seen)
        for t, seen in views.items()
        if len(seen) >= least
    }


def player_look(doc: Detections, highlight: Highlight) -> np.ndarray | None:
    """The clicked player's mean colour histogram: his track's (None when undescribed)."""
    try:
        picked = pick_track(doc, highlight)
    except StageParamsInvalid:
        return None
    look = track_looks(doc).get(picked.track_id)
    return look.mean if look is not None else None


def offers_in(clip: int, doc: Detections, look: np.ndarray) -> list[PlayerOffer]:
    """The tracks of ``doc`` (clip ``clip`` of the reel) that look like ``look``, best
    first, at most ``OFFERS_PER_CLIP`` of them, each at least ``OFFER_MIN``; each shown
    on the frame and box where it looks most like him."""
    offers = []
    for track, colours in track_looks(doc).items():
        score = similarity(look, colours.mean)
        if math.isnan(score) or score < OFFER_MIN:
            continue
        frame, box = colours.best_view(look)
        x, y, w, h = (round(v, 1) for v in box)
        offers.append(
            PlayerOffer(
                clip=clip, track_id=track, score=round(score, 3), frame=frame, box=(x, y, w, h)
            )
        )
    return sorted(offers, key=lambda o: -o.score)[:OFFERS_PER_CLIP]

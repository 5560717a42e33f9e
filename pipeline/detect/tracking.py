"""Stable track ids for players, on numpy and scipy alone (no model, no ml extra).

ByteTrack's scheme, with colours and the camera's motion added:

1. every track (confirmed, lost or tentative) is predicted one detected frame
   ahead by its Kalman filter (:mod:`pipeline.detect.kalman`) and moved with the
   camera when the detector measured its motion (``FrameDetections.camera``);
2. confident boxes (``high_score``) are matched to the confirmed and lost tracks
   by overlap and colours (:mod:`pipeline.detect.association`): two players
   crossing keep their ids because their shirts differ, and a lost track is
   found again by its look near where it was heading;
3. the less confident boxes (``low_score``) are matched, by overlap only, to the
   tracks that were seen on the last frame and are still unmatched (a player
   half hidden gives a poor box, which still says where he is);
4. tentative tracks take what confident boxes are left, by overlap;
5. confident boxes still left start tentative tracks (:mod:`pipeline.detect.tracks`):
   confirmed after ``confirm_after`` consecutive matches, or at once on the first
   frame with a score of at least ``sure_score``. A lost track ends after
   ``buffer_s`` unseen, or as soon as its prediction leaves the picture.

Fed one detected frame at a time, in order (every ``stride``-th frame, so its
frame rate is the detection rate).

Example::

    tracker = Tracker(detection_rate=30.0)
    ids = tracker.update(players, shape=(720, 1280))   # -1: no confirmed track (yet)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.detect.association import Gates, assign, iou_matrix, overlap_costs, pair_costs
from pipeline.detect.contract import FrameDetections
from pipeline.detect.kalman import BoxKalman
from pipeline.detect.tracks import Track, TrackState, correct_all, predict_all


@dataclass(frozen=True)
class TrackerConfig:
    """How boxes become tracks and tracks end (scores: the detector's confidences)."""

    high_score: float = 0.25  # matched first, by look and overlap; may start a track
    low_score: float = 0.1  # below: ignored; up to high_score: the second stage only
    sure_score: float = 0.5  # on the first frame, a box this sure is confirmed at once
    confirm_after: int = 3  # consecutive matches before a track gets an id
    buffer_s: float = 2.0  # a lost track is kept this long for re-identification
    low_min_iou: float = 0.5  # overlap a low-score box needs with a track
    tentative_min_iou: float = 0.3  # overlap a tentative track needs with its next box
    look_memory: float = 0.8  # weight of a track's look against a new box's colours
    crowded_iou: float = 0.1  # a box overlapping another this much: its colours are mixed
    gates: Gates = field(default_factory=Gates)


class Tracker:
    """Assigns track ids to one class of boxes, frame after frame."""

    def __init__(self, detection_rate: float, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.rate = max(detection_rate, 1e-6)
        self._kalman = BoxKalman(detection_rate)
        self._buffer = max(1, round(self.config.buffer_s * detection_rate))  # detected frames
        self._tracks: list[Track] = []
        self._next_id = 1
        self._frames = 0

    def update(self, found: FrameDetections, shape: tuple[int, int]) -> np.ndarray:
        """Track ids for ``found``'s boxes (-1 where no confirmed track), in a frame of
        ``shape`` (height, width) pixels."""
        cfg = self.config
        boxes = np.asarray(found.xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(found.scores, np.float64)
        looks = _looks(found, len(boxes))
        inside = _inside(predict_all(self._tracks, self._kalman, found.camera), shape)
        self._tracks = [t for t, keep in zip(self._tracks, inside, strict=True) if keep]
        owners: list[Track | None] = [None] * len(boxes)
        trusted = self._trusted_looks(boxes)

        def take(track: Track, index: int, look: bool) -> None:
            own = looks[index] if look and trusted[index] else None
            track.matched(own, cfg.look_memory)
            owners[index] = track

        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        known = [t for t in self._tracks if t.state is not TrackState.TENTATIVE]
        tentative = [t for t in self._tracks if t.state is TrackState.TENTATIVE]

        # 2: confident boxes to every known track, by overlap and look.
        cost = pair_costs(
            _boxes(known),
            _track_looks(known, looks.shape[1]),
            np.array([t.missed / self.rate for t in known]),
            boxes[high],
            looks[high],
            cfg.gates,
        )
        matches, left_known, left_high = assign(cost)
        for r, c in matches:
            take(known[r], int(high[c]), look=True)
        # 3: the less confident boxes to the tracks seen last frame, by overlap only.
        recent = [known[r] for r in left_known if known[r].state is TrackState.CONFIRMED]
        matches, _, _ = assign(overlap_costs(_boxes(recent), boxes[low], cfg.low_min_iou))
        for r, c in matches:
            take(recent[r], int(low[c]), look=False)
        # 4: tentative tracks to the confident boxes left, by overlap.
        spare = high[left_high]
        matches, _, left_spare = assign(
            overlap_costs(_boxes(tentative), boxes[spare], cfg.tentative_min_iou)
        )
        for r, c in matches:
            take(tentative[r], int(spare[c]), look=True)

        pairs = [(t, i) for i, t in enumerate(owners) if t is not None]
        correct_all([t for t, _ in pairs], boxes[[i for _, i in pairs]], self._kalman)
        taken = {id(t) for t, _ in pairs}
        for track in self._tracks:
            if id(track) not in taken:
                track.unmatched()
            elif track.state is not TrackState.TENTATIVE:
                track.state = TrackState.CONFIRMED
            elif track.hits >= cfg.confirm_after:
                self._confirm(track)
        self._tracks = [t for t in self._tracks if _alive(t, self._buffer)]
        # 5: confident boxes nobody took start tracks.
        for c in left_spare:
            index = int(spare[c])
            look = looks[index] if trusted[index] else np.zeros(looks.shape[1])
            track = Track.born(self._kalman, boxes[index], look)
            if self._frames == 0 and scores[index] >= cfg.sure_score:
                self._confirm(track)
                owners[index] = track
            self._tracks.append(track)
        self._frames += 1
        ids = np.full(len(boxes), -1, dtype=np.int64)
        for index, owner in enumerate(owners):
            if owner is not None and owner.state is TrackState.CONFIRMED:
                ids[index] = owner.track_id
        return ids

    def _confirm(self, track: Track) -> None:
        track.state = TrackState.CONFIRMED
        track.track_id, self._next_id = self._next_id, self._next_id + 1

    def _trusted_looks(self, boxes: np.ndarray) -> np.ndarray:
        """Which boxes' colours are their own: no other box overlaps them, and at most one
        known track's prediction does (players crossing blend into each other's box)."""
        crowd = self.config.crowded_iou
        overlap = iou_matrix(boxes, boxes)
        np.fill_diagonal(overlap, 0.0)
        alone: np.ndarray = np.logical_not((overlap > crowd).any(axis=1))
        known = [t for t in self._tracks if t.state is not TrackState.TENTATIVE]
        if known:
            alone = alone & ((iou_matrix(boxes, _boxes(known)) > crowd).sum(axis=1) <= 1)
        return alone


def _looks(found: FrameDetections, count: int) -> np.ndarray:
    """(count, bins) colour histograms, (count, 0) when the detections have none."""
    if len(found.appearance) == count and count:
        return np.asarray(found.appearance, np.float64).reshape(count, -1)
    return np.zeros((count, 0))


def _boxes(tracks: list[Track]) -> np.ndarray:
    return np.array([t.box for t in tracks]).reshape(-1, 4)


def _track_looks(tracks: list[Track], bins: int) -> np.ndarray:
    rows = [t.look if len(t.look) == bins else np.zeros(bins) for t in tracks]
    return np.array(rows).reshape(len(tracks), bins)


def _inside(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which of ``boxes`` (N, 4) are still partly in a frame of ``shape`` (height, width)."""
    height, width = shape
    result: np.ndarray = (
        (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < width) & (boxes[:, 1] < height)
    )
    return result


def _alive(track: Track, buffer: int) -> bool:
    if track.state is TrackState.TENTATIVE:
        return track.missed == 0
    return track.missed <= buffer

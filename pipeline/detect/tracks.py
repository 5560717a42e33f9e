"""One tracked player: his filter state, his look, and where he is in his life.

A track is born *tentative* from an unmatched detection and becomes
*confirmed* after ``confirm_after`` consecutive matches (hysteresis: a blob that
flickers for one frame never gets an id); a tentative track that misses a frame
is dropped. A confirmed track that goes unmatched is *lost*: it keeps being
predicted (and moved with the camera) so that it can be found again, by
position or by look, until ``buffer`` detected frames have passed; then it
*ends*. Its id is given at confirmation, from a counter that never goes back,
so no id is ever used twice and tentative tracks burn none.

Tracks are predicted together (:func:`predict_all`: one numpy call for all of a
frame's tracks, lost ones included, which can be dozens on a busy street).

The look is a running average of the colour histograms of the boxes matched to
it, updated only from boxes that overlap no other detection (two players
crossing blend their colours in each other's box).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from pipeline.detect.kalman import BoxKalman, to_xyah, to_xyxy


class TrackState(enum.Enum):
    """Where a track is in its life."""

    TENTATIVE = "tentative"  # born, not yet matched often enough to get an id
    CONFIRMED = "confirmed"  # matched on the last detected frame
    LOST = "lost"  # confirmed once, unmatched since ``missed`` frames


@dataclass
class Track:
    """A player's filter state and look; ``track_id`` is -1 until confirmed."""

    mean: np.ndarray
    cov: np.ndarray
    look: np.ndarray
    state: TrackState = TrackState.TENTATIVE
    track_id: int = -1
    hits: int = 1  # consecutive matches
    missed: int = 0  # detected frames since the last match
    predicted: np.ndarray | None = None  # this frame's predicted box, xyxy

    @classmethod
    def born(cls, kalman: BoxKalman, box: np.ndarray, look: np.ndarray) -> Track:
        """A tentative track from one detection."""
        mean, cov = kalman.initiate(to_xyah(np.asarray(box, np.float64)))
        return cls(mean, cov, np.asarray(look, np.float64).copy())

    @property
    def box(self) -> np.ndarray:
        """The box predicted for this frame (before its correction), xyxy."""
        if self.predicted is None:
            self.predicted = to_xyxy(self.mean[:4])
        return self.predicted

    def matched(self, look: np.ndarray | None, memory: float) -> None:
        """Matched to a detection (its box corrects the state in :func:`correct_all`);
        its look blended in with weight ``1 - memory`` (None: the box's colours are not
        to be trusted)."""
        self.hits = self.hits + 1 if self.missed == 0 else 1
        self.missed = 0
        if look is not None and look.any():
            blended = look if not self.look.any() else memory * self.look + (1 - memory) * look
            total = blended.sum()
            self.look = blended / total if total > 0 else blended

    def unmatched(self) -> None:
        """No detection this frame."""
        self.missed += 1
        self.hits = 0
        if self.state is TrackState.CONFIRMED:
            self.state = TrackState.LOST


def predict_all(tracks: list[Track], kalman: BoxKalman, camera: np.ndarray | None) -> np.ndarray:
    """Every track one step ahead, then moved with the camera (``camera``: previous
    pixels to current, or None when its motion is not known); their predicted boxes
    (T, 4) xyxy."""
    if not tracks:
        return np.empty((0, 4))
    means = np.array([t.mean for t in tracks])
    covs = np.array([t.cov for t in tracks])
    lost = np.array([t.state is TrackState.LOST for t in tracks])
    means[lost, 7] = 0.0  # an unseen box keeps its size (as ByteTrack does)
    means, covs = kalman.predict(means, covs)
    if camera is not None:
        means, covs = kalman.warp(means, covs, camera)
    means[:, 3] = np.maximum(means[:, 3], 1.0)
    boxes: np.ndarray = to_xyxy(means[:, :4])
    for track, mean, cov, box in zip(tracks, means, covs, boxes, strict=True):
        track.mean, track.cov, track.predicted = mean, cov, box
    return boxes


def correct_all(tracks: list[Track], boxes: np.ndarray, kalman: BoxKalman) -> None:
    """Each track's state corrected by its matched box (``boxes`` (T, 4) xyxy), at once."""
    if not tracks:
        return
    means = np.array([t.mean for t in tracks])
    covs = np.array([t.cov for t in tracks])
    means, covs = kalman.update(means, covs, to_xyah(boxes.reshape(-1, 4)))
    for track, mean, cov in zip(tracks, means, covs, strict=True):
        track.mean, track.cov = mean, cov

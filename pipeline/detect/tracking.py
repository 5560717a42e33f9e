"""Stable track ids for players: ultralytics' ByteTrack over each detected frame.

ByteTrack matches high-confidence boxes first, then recovers low-confidence
ones, with a Kalman filter per track; a track survives ``buffer_s`` without a
match. Fed one detected frame at a time, in order (every ``stride``-th frame,
so its frame rate is the detection rate).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.detect.contract import FrameDetections
from pipeline.detect.offline import import_offline


class Tracker:
    """Assigns track ids to one class of boxes, frame after frame."""

    def __init__(self, detection_rate: float, config_dir: Path, *, buffer_s: float = 2.0) -> None:
        try:
            results: Any = import_offline("ultralytics.engine.results", config_dir)
            byte_tracker: Any = importlib.import_module("ultralytics.trackers.byte_tracker")
            utils: Any = importlib.import_module("ultralytics.utils")
        except ImportError as exc:
            raise ConfigError(
                "tracking needs the ml extra (ultralytics, lap): pip install 'reelpipe[ml]'"
            ) from exc
        args = utils.IterableSimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=0.25,
            track_low_thresh=0.1,
            new_track_thresh=0.25,
            track_buffer=max(1, round(buffer_s * detection_rate)),  # in detected frames
            match_thresh=0.8,
            fuse_score=True,
        )
        self._boxes: Any = results.Boxes
        self._tracker: Any = byte_tracker.BYTETracker(args)

    def update(self, found: FrameDetections, shape: tuple[int, int]) -> np.ndarray:
        """Track ids for ``found``'s boxes (-1 where no confirmed track)."""
        ids = np.full(len(found.scores), -1, dtype=np.int64)
        data = np.column_stack([found.xyxy, found.scores, found.classes]).astype(np.float32)
        tracked = self._tracker.update(self._boxes(data.reshape(-1, 6), shape))
        if len(tracked):
            tracked = np.asarray(tracked)
            ids[tracked[:, 7].astype(np.int64)] = tracked[:, 4].astype(np.int64)
        return ids

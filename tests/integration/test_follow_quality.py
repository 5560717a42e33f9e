"""On the generated game (a still camera, 10 players, known positions), a clicked player
followed through the motion backend's detections stays lit and on him far longer than
following his tracker id does (the measure of ``bench/follow_quality.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.follow_quality import H, W, click_every_player, motion_detections
from tests.factories import make_clip

pytestmark = pytest.mark.ml  # ByteTrack comes with the ml extra


def test_a_clicked_player_is_followed_not_his_fragmented_track(tmp_path: Path) -> None:
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False)
    followed, by_id = click_every_player(motion_detections(clip, tmp_path), truth)
    assert np.mean(followed) >= 0.7, followed
    assert np.mean(followed) >= np.mean(by_id) + 0.2, (followed, by_id)

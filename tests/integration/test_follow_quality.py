"""On the generated game (a still camera, 10 players, known positions), a clicked player
followed through the motion backend's detections stays lit and on him far longer than
following his tracker id does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import bytetrack, detect_frames
from pipeline.detect.motion import MotionDetector
from pipeline.manifests.detections import VideoFacts
from pipeline.manifests.job import Highlight
from pipeline.media.probe import probe
from pipeline.media.sample import SampleTruth
from pipeline.stages.track_pick import PickedTrack, pick_track
from tests.factories import make_clip

pytestmark = pytest.mark.ml  # ByteTrack comes with the ml extra

W, H = 640, 360


def on_the_player(picked: PickedTrack, truth: SampleTruth, player: int) -> float:
    """Share of the frames where he is in the picture that the spotlight is on and its
    centre within 10% of the frame height of his."""
    kf = np.asarray(picked.keyframes)
    frames = np.arange(truth.frames)
    centre = np.column_stack(
        [
            np.interp(frames, kf[:, 0], kf[:, 1] + kf[:, 3] / 2),
            np.interp(frames, kf[:, 0], kf[:, 2] + kf[:, 4] / 2),
        ]
    )
    box = truth.boxes[:, player]
    true_centre = box[:, :2] + box[:, 2:] / 2
    visible = (box[:, 0] >= 0) & (box[:, 1] >= 0) & (box[:, 0] + box[:, 2] <= W)
    visible &= box[:, 1] + box[:, 3] <= H
    close = np.hypot(*(centre - true_centre).T) <= 0.1 * H
    lit = picked.strength >= 1.0
    return float((close & lit)[visible].mean())


def test_a_clicked_player_is_followed_not_his_fragmented_track(tmp_path: Path) -> None:
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False)
    info = probe(clip)
    found = detect_frames(clip, info, MotionDetector(), tracker=bytetrack(tmp_path / "ultra"))
    video = VideoFacts(width=W, height=H, fps=float(info.fps), frame_count=info.frame_count)
    doc = assemble(
        found, video, backend="motion", classes=("moving",), stride=1,
        ball_confidence=0.1, max_ball_gap=0,
    )  # fmt: skip
    followed, by_id = [], []
    for player in range(truth.boxes.shape[1]):
        x, y, w, h = truth.boxes[30, player]
        picked = pick_track(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
        followed.append(on_the_player(picked, truth, player))
        by_id.append(
            on_the_player(pick_track(doc, Highlight(track_id=picked.track_id)), truth, player)
        )
    assert np.mean(followed) >= 0.7, followed
    assert np.mean(followed) >= np.mean(by_id) + 0.2, (followed, by_id)

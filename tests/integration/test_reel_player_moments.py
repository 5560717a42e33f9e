"""A player's moments are those he is in and part of: near the ball (found by a detector
that finds it) on enough of the moment; a moment he stands far from the ball is dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.moments import FoundMoment
from pipeline.jobs.reel_player import INVOLVED, NEAR_BALL, PlayerFrames, player_moments
from pipeline.manifests.detections import VideoFacts
from pipeline.manifests.job import Highlight
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from tests.fake_detector import TruthDetector

STAR = 0


def test_a_moment_is_kept_when_the_player_is_near_the_ball_and_dropped_when_he_is_far(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "game.mp4"
    truth = write_sample_clip(clip, width=640, height=360, duration_s=6.0, seed=7, audio=False)
    info = probe(clip)
    detector = TruthDetector(truth)
    found = detect_frames(clip, info, detector, stride=1, tracker=tracking())
    video = VideoFacts(
        width=info.width, height=info.height, fps=float(info.fps), frame_count=info.frame_count
    )
    doc = assemble(
        found, video, backend="truth", classes=detector.classes, stride=1,
        ball_confidence=0.1, max_ball_gap=15,
    )  # fmt: skip
    x, y, w, h = truth.boxes[30, STAR]
    frames = PlayerFrames.of(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
    assert frames.ball_known

    # The truth: per second, the share of frames his feet are within reach of the ball.
    feet = truth.boxes[:, STAR, :2] + truth.boxes[:, STAR, 2:] * (0.5, 1.0)
    near = np.hypot(*(truth.ball - feet).T) <= NEAR_BALL * truth.boxes[:, STAR, 3]
    seconds = [FoundMoment(float(s), s + 1.0, 1.0, ("motion",)) for s in range(6)]
    kept = {m.start_s: m for m in player_moments(seconds, frames, None)}
    share = [float(near[s * 30 : (s + 1) * 30].mean()) for s in range(6)]
    clearly_near = [s for s in range(6) if share[s] >= 2 * INVOLVED]
    far = [s for s in range(6) if share[s] == 0]
    assert clearly_near and far, share
    for s in clearly_near:
        assert s in kept, (s, share)
        assert any(r.startswith("the player near the ball") for r in kept[s].reasons)
        assert kept[s].score > 1.0
    for s in far:
        assert s not in kept, (s, share, kept[s].reasons)

"""Detection against ground truth: tracking, gap filling, the virtual camera, motion."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.settings import EncodeProfile
from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.motion import MotionDetector
from pipeline.detect.stitch import stitch
from pipeline.follow.camera_path import (
    CameraLimits,
    CameraView,
    crop_path,
    follow_targets,
    window_size,
)
from pipeline.manifests.detections import TRACK, X1, X2, Y1, Y2, Detections, VideoFacts
from pipeline.media.frames import FrameWriter, YuvFrame
from pipeline.media.probe import probe
from pipeline.media.sample import SampleTruth
from tests.factories import make_clip
from tests.fake_detector import TruthDetector


def detections(
    clip: Path, truth: SampleTruth, tmp_path: Path, *, stride: int, **fake: object
) -> Detections:
    info = probe(clip)
    detector = TruthDetector(truth, stride=stride, **fake)  # type: ignore[arg-type]
    found = detect_frames(clip, info, detector, stride=stride, tracker=tracking())
    video = VideoFacts(
        width=info.width, height=info.height, fps=float(info.fps), frame_count=info.frame_count
    )
    return assemble(
        found,
        video,
        backend="truth",
        classes=detector.classes,
        stride=stride,
        ball_confidence=0.1,
        max_ball_gap=15,
    )


def player_ids(doc: Detections, truth: SampleTruth) -> np.ndarray:
    """(frames, players) track id on each truth player (nearest tracked box centre), -1 if none."""
    ids = np.full(truth.boxes.shape[:2], -1)
    for f in range(truth.frames):
        rows = doc.rows(f)
        rows = rows[rows[:, TRACK] >= 0]
        if not len(rows):
            continue
        centres = np.column_stack(
            [(rows[:, X1] + rows[:, X2]) / 2, (rows[:, Y1] + rows[:, Y2]) / 2]
        )
        for p, (x, y, w, h) in enumerate(truth.boxes[f]):
            d = np.hypot(*(centres - [x + w / 2, y + h / 2]).T)
            if d.min() < w / 2:
                ids[f, p] = int(rows[np.argmin(d), TRACK])
    return ids


@pytest.mark.parametrize("stride", [1, 3])
def test_track_ids_stay_with_their_players(tmp_path: Path, stride: int) -> None:
    """Through crossings and misses, each player's id changes at most once, and is known
    on >= 90% of frames (filled between detected frames when stride > 1)."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=6.0, audio=False)
    doc = detections(clip, truth, tmp_path, stride=stride)
    ids = player_ids(doc, truth)
    for p in range(ids.shape[1]):
        seen = ids[:, p][ids[:, p] >= 0]
        switches = int(np.count_nonzero(np.diff(seen)))
        assert switches <= 1, f"player {p}: ids {np.unique(seen)} ({switches} switches)"
        assert len(seen) >= 0.9 * truth.frames, f"player {p} tracked on {len(seen)} frames"
    assert len(doc.track_ids()) <= truth.boxes.shape[1] + 3  # no id explosion


def test_ball_gaps_are_interpolated_and_flagged(tmp_path: Path) -> None:
    """A 10-frame gap is filled (flagged, near the truth); a 40-frame gap is left unknown."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0, audio=False)
    doc = detections(clip, truth, tmp_path, stride=1, ball_gaps=((30, 40), (60, 100)))
    assert doc.ball[29] is not None and doc.ball[29][2] == 0
    for f in range(30, 40):
        ball = doc.ball[f]
        assert ball is not None and ball[2] == 1
        assert np.hypot(ball[0] - truth.ball[f, 0], ball[1] - truth.ball[f, 1]) < 0.06 * 640
    assert all(doc.ball[f] is None for f in range(60, 100))


def test_stride_fills_tracks_between_detected_frames(tmp_path: Path) -> None:
    """Every 4th frame detected; tracked boxes appear on every frame, flagged in between."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=2.0, audio=False)
    doc = detections(clip, truth, tmp_path, stride=4, miss_rate=0.0)
    middle = doc.rows(42)  # between detected frames 40 and 44
    assert len(middle) >= truth.boxes.shape[1] - 1
    assert set(middle[:, -1]) == {1.0}
    assert set(doc.rows(40)[:, -1]) == {0.0}


def test_the_virtual_camera_is_smooth_and_keeps_the_ball(tmp_path: Path) -> None:
    """9:16 crop of a 16:9 game: bounded pan speed, acceleration and jerk, never outside
    the frame, and the ground-truth ball inside the window on >= 95% of frames."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=10.0, audio=False)
    doc = detections(clip, truth, tmp_path, stride=2, ball_gaps=((100, 110),))
    fps, limits = 30.0, CameraLimits()
    win_w, win_h = window_size(640, 360, 9 / 16)
    path = crop_path(follow_targets(doc), CameraView(640, 360, win_w, win_h, fps), limits)
    x = path[:, 0].astype(float)
    assert (path >= 0).all() and (x + win_w <= 640).all() and (path[:, 1] == 0).all()
    speed, accel = limits.max_speed * win_w / fps, limits.max_accel * win_w / fps**2
    # +2 / +4 / +8: the corner is rounded to even pixels.
    assert np.abs(np.diff(x)).max() <= speed + 2
    assert np.abs(np.diff(x, 2)).max() <= accel + 4
    assert np.abs(np.diff(x, 3)).max() <= 2 * accel + 8
    inside = (truth.ball[:, 0] >= x) & (truth.ball[:, 0] <= x + win_w)
    assert inside.mean() >= 0.95, f"ball in the window on {inside.mean():.1%} of frames"


def test_a_still_scene_does_not_move_the_camera(tmp_path: Path) -> None:
    """Targets jittering inside the dead zone leave the window where it is."""
    rng = np.random.default_rng(1)
    targets = np.column_stack([320 + rng.normal(0, 4, 300), 180 + rng.normal(0, 4, 300)])
    win_w, win_h = window_size(640, 360, 9 / 16)
    path = crop_path(targets, CameraView(640, 360, win_w, win_h, 30.0))
    assert len(np.unique(path[:, 0])) == 1


def write_moving_object(path: Path, frames: int = 90) -> np.ndarray:
    """A textured static background with one dark disc moving over it; its true centres."""
    width, height = 640, 360
    rng = np.random.default_rng(5)
    background = (rng.integers(90, 140, (height, width)) // 8 * 8).astype(np.uint8)
    t = np.arange(frames) / 30
    centres = np.column_stack(
        [320 + 220 * np.sin(2 * np.pi * 0.25 * t), 180 + 110 * np.sin(2 * np.pi * 0.4 * t)]
    )
    yy, xx = np.mgrid[0:height, 0:width]
    with FrameWriter(
        path, width, height, Fraction(30), EncodeProfile(preset="veryfast", crf=18)
    ) as w:
        for i, (cx, cy) in enumerate(centres):
            y = background.copy()
            y[(xx - cx) ** 2 + (yy - cy) ** 2 <= 18**2] = 20
            u = np.full((height // 2, width // 2), 128, np.uint8)
            w.write(YuvFrame.from_planes(i, y, u, u.copy()))
    return centres


@pytest.mark.parametrize("stride", [1, 2])
def test_motion_backend_finds_the_moving_object(tmp_path: Path, stride: int) -> None:
    """The action centre is within 5% of the width of the object on >= 90% of frames."""
    clip = tmp_path / "moving.mp4"
    centres = write_moving_object(clip)
    info = probe(clip)
    found = detect_frames(clip, info, MotionDetector(), stride=stride)
    video = VideoFacts(width=640, height=360, fps=30.0, frame_count=info.frame_count)
    doc = assemble(
        found, video, backend="motion", classes=("moving",), stride=stride,
        ball_confidence=0.1, max_ball_gap=0,
    )  # fmt: skip
    action = doc.action_array()
    error = np.hypot(*(action - centres).T)
    close = np.nan_to_num(error, nan=np.inf) <= 0.05 * 640
    assert close.mean() >= 0.9, f"action centre close on {close.mean():.1%} of frames"


def test_segments_stitch_into_one_set_of_track_ids(tmp_path: Path) -> None:
    """Two halves detected apart (the second from 1 s early) and stitched: each player
    keeps one id across the boundary, as in a sequential run."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=6.0, audio=False)
    info = probe(clip)
    video = VideoFacts(width=640, height=360, fps=30.0, frame_count=info.frame_count)
    parts = []
    for start, end in ((0, 90), (60, 180)):  # the second half starts at 90, 30 frames early
        found = detect_frames(
            clip, info, TruthDetector(truth, start=start, end=end), start=start, end=end,
            tracker=tracking(),
        )  # fmt: skip
        parts.append(
            assemble(
                found,
                video,
                backend="truth",
                classes=("player", "ball"),
                stride=1,
                ball_confidence=0.1,
                max_ball_gap=15,
            )
        )
    doc = stitch(parts, [0, 90])
    ids = player_ids(doc, truth)
    for p in range(ids.shape[1]):
        before, after = ids[80:90, p], ids[90:100, p]
        known_before, known_after = before[before >= 0], after[after >= 0]
        if len(known_before) and len(known_after):
            assert np.bincount(known_before).argmax() == np.bincount(known_after).argmax(), p
        seen = ids[:, p][ids[:, p] >= 0]
        assert int(np.count_nonzero(np.diff(seen))) <= 1, f"player {p}: {np.unique(seen)}"
    assert len(doc.frames) == truth.frames and doc.ball[120] is not None

"""A virtual camera that follows the action: the crop window's path, frame by frame.

Targets come from detections: the ball, pulled towards the players near it
(with the ``motion`` backend, the centre of the moving pixels). The camera:

- holds through gaps (the last target is kept) and starts on the first one;
- looks ahead: targets are smoothed with a centred window (``smoothing_s``);
- ignores small moves: inside a dead zone (a fraction of the window) it stays;
- pans with bounded speed and acceleration, so the path never jerks;
- cuts when the clip cuts: each shot is followed on its own, so at a shot
  boundary the window jumps to the new shot's target instead of panning;
- never leaves the frame.

Example::

    w, h = window_size(1920, 1080, 9 / 16)            # 606 x 1080
    path = crop_path(follow_targets(doc), 1920, 1080, w, h, fps=30.0)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.detect.contract import PLAYER
from pipeline.manifests.detections import CLASS, X1, X2, Y1, Y2, Detections
from pipeline.media.codec import even

BALL_WEIGHT = 0.8  # the rest goes to the players near the ball
NEAR_BALL = 0.25  # players within this fraction of the frame height count as near


@dataclass(frozen=True)
class CameraLimits:
    """How the virtual camera may move; speeds in window sizes, times in seconds."""

    # Tuned on the generated game (passes cross most of the pitch in a second):
    # the ball stays in a 9:16 window on ~98% of frames.
    dead_zone: float = 0.05  # of the window: target moves smaller than this are ignored
    max_speed: float = 3.0  # windows per second
    max_accel: float = 10.0  # windows per second squared
    response_s: float = 0.15  # time to close most of a gap, when not limited
    smoothing_s: float = 0.4  # look-ahead smoothing of the targets


def window_size(width: int, height: int, aspect: float) -> tuple[int, int]:
    """The largest even-sized window of ``aspect`` (width / height) inside the frame."""
    if width / height > aspect:
        return even(round(height * aspect)), even(height)
    return even(width), even(round(width / aspect))


def follow_targets(doc: Detections) -> np.ndarray:
    """(frames, 2) points to keep centred; NaN where nothing was found."""
    if doc.backend == "motion":
        return doc.action_array()
    ball = doc.ball_array()
    out = np.full_like(ball, np.nan)
    near = NEAR_BALL * doc.video.height
    for i in range(doc.video.frame_count):
        rows = doc.rows(i)
        players = rows[rows[:, CLASS] == PLAYER]
        centres = np.column_stack(
            [(players[:, X1] + players[:, X2]) / 2, (players[:, Y1] + players[:, Y2]) / 2]
        )
        if not np.isnan(ball[i, 0]):
            close = centres[np.hypot(*(centres - ball[i]).T) <= near] if len(centres) else centres
            out[i] = (
                ball[i]
                if not len(close)
                else (BALL_WEIGHT * ball[i] + (1 - BALL_WEIGHT) * close.mean(axis=0))
            )
        elif len(centres):
            out[i] = np.median(centres, axis=0)
    return out


def crop_path(
    targets: np.ndarray,
    width: int,
    height: int,
    win_w: int,
    win_h: int,
    fps: float,
    limits: CameraLimits = CameraLimits(),
    cuts: list[int] | None = None,
) -> np.ndarray:
    """(frames, 2) even ``[x, y]`` of the window's top-left corner for every frame;
    each shot (``cuts``: the frames that begin one) is followed on its own."""
    bounds = [0, *sorted(c for c in cuts or [] if 0 < c < len(targets)), len(targets)]
    shots = [
        _shot_path(targets[a:b], width, height, win_w, win_h, fps, limits)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    return np.concatenate(shots) if shots else np.empty((0, 2), dtype=np.int64)


def _shot_path(
    targets: np.ndarray,
    width: int,
    height: int,
    win_w: int,
    win_h: int,
    fps: float,
    limits: CameraLimits,
) -> np.ndarray:
    filled = _hold(targets, (width / 2, height / 2))
    smoothed = _smooth(filled, max(1, round(limits.smoothing_s * fps)))
    desired = smoothed - np.array([win_w / 2, win_h / 2])
    upper = np.array([width - win_w, height - win_h], dtype=np.float64)
    desired = np.clip(desired, 0, upper)
    path = np.empty_like(desired)
    for axis, size in ((0, win_w), (1, win_h)):
        path[:, axis] = _camera(
            desired[:, axis],
            upper[axis],
            dead=limits.dead_zone * size,
            speed=limits.max_speed * size / fps,
            accel=limits.max_accel * size / fps**2,
            gain=1 / max(1.0, limits.response_s * fps),
        )
    evened = np.floor(path / 2) * 2
    corners: np.ndarray = np.clip(evened, 0, upper).astype(np.int64)
    return corners


def _hold(points: np.ndarray, default: tuple[float, float]) -> np.ndarray:
    """NaN rows replaced by the last known point (the first known one before it)."""
    out = points.astype(np.float64).copy()
    known = ~np.isnan(out[:, 0])
    if not known.any():
        out[:] = default
        return out
    index = np.where(known, np.arange(len(out)), -1)
    np.maximum.accumulate(index, out=index)
    first = int(np.argmax(known))
    index[index < 0] = first
    return out[index]


def _smooth(points: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average, edges padded with the end values."""
    if window <= 1:
        return points
    pad = window // 2
    padded = np.pad(points, ((pad, window - 1 - pad), (0, 0)), mode="edge")
    kernel = np.ones(window) / window
    smoothed: np.ndarray = np.column_stack(
        [np.convolve(padded[:, a], kernel, mode="valid") for a in (0, 1)]
    )
    return smoothed


def _camera(
    desired: np.ndarray, upper: float, *, dead: float, speed: float, accel: float, gain: float
) -> np.ndarray:
    """One axis of a rate- and acceleration-limited follower with a dead zone."""
    out = np.empty_like(desired)
    pos, vel = float(desired[0]), 0.0
    for i, want in enumerate(desired):
        error = want - pos
        target_vel = 0.0 if abs(error) <= dead else (error - np.sign(error) * dead) * gain
        target_vel = float(np.clip(target_vel, -speed, speed))
        vel += float(np.clip(target_vel - vel, -accel, accel))
        pos += vel
        if pos < 0 or pos > upper:
            pos, vel = float(np.clip(pos, 0, upper)), 0.0
        out[i] = pos
    return out

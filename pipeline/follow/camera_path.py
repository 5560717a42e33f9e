"""A virtual camera that follows the action: the crop window's path, frame by frame.

Targets come from detections: the ball, pulled towards the players near it
(with the ``motion`` backend, the centre of the moving pixels), or a followed
player's box. The camera:

- holds through gaps (the last target is kept) and starts on the first one;
- leads instead of lagging: the target's path is known for the whole clip, so
  the window's path is solved over each shot at once (zero phase,
  :mod:`pipeline.follow.camera_solve`), with lead room ahead of the motion;
- keeps the target's whole box inside the window, a margin from its edges,
  where the box fits (its centre where it does not);
- ignores small moves: inside a dead zone (a fraction of the window) it stays;
- pans with bounded speed and acceleration and least jerk;
- cuts when the clip cuts: each shot is solved on its own, so at a shot
  boundary the window jumps to the new shot's target instead of panning;
- never leaves the frame.

Example::

    w, h = window_size(1920, 1080, 9 / 16)            # 606 x 1080
    path = crop_path(follow_targets(doc), CameraView(1920, 1080, w, h, fps=30.0))
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.detect.contract import PLAYER
from pipeline.follow.camera_solve import AxisMotion, solve_axis
from pipeline.manifests.detections import Detections
from pipeline.media.codec import even

BALL_WEIGHT = 0.8  # the rest goes to the players near the ball
NEAR_BALL = 0.25  # players within this fraction of the frame height count as near


@dataclass(frozen=True)
class CameraLimits:
    """How the virtual camera may move; speeds in window sizes, times in seconds."""

    # Tuned on the generated game (passes cross most of the pitch in a second) and on
    # real pans (a cyclist filling two thirds of a 9:16 window).
    dead_zone: float = 0.05  # of the window: target moves smaller than this are ignored
    max_speed: float = 3.0  # windows per second
    max_accel: float = 10.0  # windows per second squared
    smoothness_s: float = 0.2  # the path's time constant: longer is smoother, slower
    smoothing_s: float = 0.4  # centred smoothing of the targets (and their sizes)
    margin: float = 0.04  # of the window: kept between the target's box and its edges
    lead_s: float = 0.3  # lead room: the window centres this far ahead on the motion
    max_lead: float = 0.15  # of the window: the most lead room


@dataclass(frozen=True)
class CameraView:
    """The picture the window moves over (``width`` x ``height`` at ``fps``) and the
    window's size."""

    width: int
    height: int
    win_w: int
    win_h: int
    fps: float


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
        boxes = doc.boxes(i)
        centres = boxes[boxes.class_id == PLAYER].centres
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
    view: CameraView,
    limits: CameraLimits = CameraLimits(),
    cuts: Sequence[int] | None = None,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """(frames, 2) even ``[x, y]`` of the window's top-left corner for every frame;
    each shot (``cuts``: the frames that begin one) is followed on its own.

    ``sizes``: (frames, 2) the target's box width and height (NaN where unknown), held
    wholly inside the window where it fits; without them the centre is held."""
    bounds = [0, *sorted(c for c in cuts or [] if 0 < c < len(targets)), len(targets)]
    if sizes is None:
        sizes = np.zeros_like(targets, dtype=np.float64)
    shots = [
        _shot_path(targets[a:b], sizes[a:b], view, limits)
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    return np.concatenate(shots) if shots else np.empty((0, 2), dtype=np.int64)


def keyframe_targets(
    keyframes: Sequence[Sequence[float]], frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, 2) centres and (frames, 2) box widths and heights from ``[frame, x, y,
    w, h]`` keyframes, interpolated (held before the first and after the last)."""
    kf = np.asarray(keyframes, dtype=np.float64).reshape(-1, 5)
    if not len(kf):
        return np.full((frames, 2), np.nan), np.full((frames, 2), np.nan)
    index = np.arange(frames)
    x, y, w, h = (np.interp(index, kf[:, 0], kf[:, k]) for k in (1, 2, 3, 4))
    return np.column_stack([x + w / 2, y + h / 2]), np.column_stack([w, h])


def _shot_path(
    targets: np.ndarray, sizes: np.ndarray, view: CameraView, limits: CameraLimits
) -> np.ndarray:
    width, height, win_w, win_h, fps = view.width, view.height, view.win_w, view.win_h, view.fps
    known = ~np.isnan(targets[:, 0])
    held = _hold(targets, (width / 2, height / 2))
    # Where the window would best be comes from smoothed targets; where it must be
    # (the whole box inside) from the boxes as they are: smoothing shaves the peaks
    # of a fast move, and the box is cut off exactly there.
    centre = _smooth(held, max(1, round(limits.smoothing_s * fps)))
    half = np.nan_to_num(_hold(sizes, (0.0, 0.0))) / 2
    velocity = np.gradient(centre, axis=0) if len(centre) > 1 else np.zeros_like(centre)
    upper = np.array([width - win_w, height - win_h], dtype=np.float64)
    path = np.zeros_like(centre)
    for axis, size in ((0, win_w), (1, win_h)):
        if upper[axis] <= 0:
            continue
        most = limits.max_lead * size
        lead = np.clip(velocity[:, axis] * limits.lead_s * fps, -most, most)
        prefer = np.clip(centre[:, axis] + lead - size / 2, 0, upper[axis])
        lo, hi = _band(held[:, axis], half[:, axis], size, limits.margin * size)
        lo = np.where(known, np.clip(lo, 0, upper[axis]), -np.inf)
        hi = np.where(known, np.clip(hi, 0, upper[axis]), np.inf)
        motion = AxisMotion(
            dead=limits.dead_zone * size,
            speed=limits.max_speed * size / fps,
            accel=limits.max_accel * size / fps**2,
            scale=limits.smoothness_s * fps,
        )
        path[:, axis] = solve_axis(prefer, lo, hi, motion)
    # Rounded, not floored: a bound held by a penalty lands a hair short of its pixel.
    evened = np.round(np.clip(path, 0, upper) / 2) * 2
    corners: np.ndarray = np.clip(evened, 0, upper).astype(np.int64)
    return corners


def _band(
    centre: np.ndarray, half: np.ndarray, size: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where the window's corner may be for the box (``centre`` +- ``half``) to be wholly
    inside it, ``margin`` from its edges; a box with less room than that keeps half of
    its room as the margin, and one wider than the window is centred."""
    room = np.maximum(0.0, size / 2 - half)  # how far the centre may sit off the middle
    slack = room - np.minimum(margin, room / 2)
    low = centre - size / 2 - slack
    high = centre - size / 2 + slack
    return low, high


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

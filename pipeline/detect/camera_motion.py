"""How the camera moved between two frames: a similarity transform (shift, zoom, roll).

Corners of the previous frame are followed into the next with pyramidal
Lucas-Kanade optical flow; a RANSAC fit of a 4-parameter affine keeps the
points that move together (the pitch, the stands) and ignores those that do
not (the players). When most points did not move at all, the camera is still
(the identity): on a bare pitch most corners are on the players, and a group
of them running the same way must not pass for a pan.

Example::

    step = camera_step(previous_grey, grey)   # 2x3, maps previous pixels to current ones
    moved(step)                               # False for a tripod
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_CORNERS = 300
MIN_INLIERS = 12  # fewer points agreeing: the frames do not show the same scene
MIN_AGREEING = 0.5  # of the followed points: a camera motion most of them share
STILL_POINT_PX = 0.5  # a point that moved less than this stood still
STILL_PX = 0.15  # steps smaller than this (in pixels at the frame's corners) are noise

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def camera_step(
    previous: np.ndarray, current: np.ndarray, guess: np.ndarray | None = None
) -> np.ndarray | None:
    """The 2x3 transform taking ``previous``'s pixels to ``current``'s (grey uint8 frames of
    the same size), or None when no consistent motion is found (a cut, a blank frame).
    With a ``guess`` (e.g. the motion so far, when registering a frame against the
    background) the search starts from it."""
    corners = cv2.goodFeaturesToTrack(
        previous, maxCorners=MAX_CORNERS, qualityLevel=0.01, minDistance=6, blockSize=5
    )
    if corners is None or len(corners) < MIN_INLIERS:
        return None
    start_guess = None if guess is None else cv2.transform(corners, guess)
    moved_to, status, _ = cv2.calcOpticalFlowPyrLK(
        previous,
        current,
        corners,
        start_guess,  # type: ignore[arg-type]
        winSize=(15, 15),
        maxLevel=3,
        flags=0 if guess is None else cv2.OPTFLOW_USE_INITIAL_FLOW,
    )
    ok = status.reshape(-1) == 1
    if ok.sum() < MIN_INLIERS:
        return None
    start, end = corners[ok].reshape(-1, 2), moved_to[ok].reshape(-1, 2)
    if guess is None and (np.hypot(*(end - start).T) < STILL_POINT_PX).mean() >= MIN_AGREEING:
        return IDENTITY.copy()
    step, inliers = cv2.estimateAffinePartial2D(
        start, end, method=cv2.RANSAC, ransacReprojThreshold=0.3
    )
    if step is None or inliers is None:
        return None
    if int(inliers.sum()) < max(MIN_INLIERS, MIN_AGREEING * len(start)):
        return None
    result: np.ndarray = step
    return result


def moved(step: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether ``step`` moves any corner of a ``(width, height)`` frame by more than noise."""
    width, height = size
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float)
    shift = corners @ step.T - corners[:, :2]
    return bool(np.abs(shift).max() > STILL_PX)


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 transform applying ``a`` then ``b``."""
    full_a = np.vstack([a, [0.0, 0.0, 1.0]])
    full_b = np.vstack([b, [0.0, 0.0, 1.0]])
    result: np.ndarray = (full_b @ full_a)[:2]
    return result


def invert(step: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 transform."""
    result: np.ndarray = cv2.invertAffineTransform(step)
    return result


class CameraSteps:
    """The camera's motion between consecutive frames fed to it, for detectors that do
    not measure it themselves (the motion backend does): measured on a grey copy at most
    ``width`` pixels wide (a few milliseconds), returned in the frame's own pixels.

    Example::

        steps = CameraSteps()
        steps(rgb_0)   # IDENTITY: nothing to compare with yet
        steps(rgb_1)   # rgb_0's pixels -> rgb_1's
    """

    def __init__(self, width: int = 320) -> None:
        self.width = width
        self._previous: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The step from the previous frame to ``rgb`` (IDENTITY when unknown: the first
        frame, a cut, a change of size)."""
        height, width = rgb.shape[:2]
        factor = min(1.0, self.width / width)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if factor < 1.0:
            size = (round(width * factor), round(height * factor))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return IDENTITY.copy()
        step = camera_step(previous, grey)
        if step is None:
            return IDENTITY.copy()
        step = step.copy()
        step[:, 2] /= factor  # the shift in the frame's pixels (rotation and zoom keep)
        return step

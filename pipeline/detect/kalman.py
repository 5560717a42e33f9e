"""A constant-velocity Kalman filter over a box: where a player will be next.

The state is ByteTrack's ``xyah``: the box's centre, its aspect (width over
height) and its height, and the velocities of all four. Noise is proportional
to the box's height, so a player far from the camera (small) moves and jitters
by fewer pixels than one near it, without a tuning per clip. A detected frame
is one step; when detection runs at a lower rate than the reference 30 frames
a second, each step is longer and the process noise grows with it.

The camera's own motion (:mod:`pipeline.detect.camera_motion`) is applied to
the prediction by :meth:`BoxKalman.warp`, so tracks live in the current frame's
pixels even while the camera pans: a player standing still on a panning shot
keeps a velocity near zero instead of the pan's.

Example::

    kf = BoxKalman()
    mean, cov = kf.initiate(to_xyah(np.array([100, 50, 140, 150])))
    mean, cov = kf.predict(mean, cov)
    mean, cov = kf.update(mean, cov, to_xyah(np.array([103, 51, 143, 151])))
    to_xyxy(mean[:4])
"""

from __future__ import annotations

import numpy as np

NDIM = 4  # x, y, aspect, height
REFERENCE_RATE = 30.0  # frames a second the noise weights are tuned for (ByteTrack's)
POSITION_NOISE = 1 / 20  # of the height, per step
VELOCITY_NOISE = 1 / 160  # of the height, per step


def to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """(..., 4) corners to (..., 4) centre x, centre y, width / height, height."""
    x1, y1, x2, y2 = (xyxy[..., k] for k in range(4))
    h = np.maximum(y2 - y1, 1e-6)
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h], axis=-1)


def to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_xyah`."""
    x, y, a, h = (xyah[..., k] for k in range(4))
    w = a * h
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=-1)


class BoxKalman:
    """The filter's matrices; each track holds its own mean and covariance."""

    def __init__(self, detection_rate: float = REFERENCE_RATE) -> None:
        # One detected frame is ``step`` reference frames: more can happen in it.
        self.step = max(1.0, REFERENCE_RATE / max(detection_rate, 1e-6))
        self._motion = np.eye(2 * NDIM)
        self._motion[:NDIM, NDIM:] = np.eye(NDIM)
        self._observe = np.eye(NDIM, 2 * NDIM)

    def initiate(self, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A new track's mean and covariance from its first box (velocity unknown)."""
        mean = np.concatenate([xyah, np.zeros(NDIM)])
        h = xyah[3]
        std = [
            2 * POSITION_NOISE * h,
            2 * POSITION_NOISE * h,
            1e-2,
            2 * POSITION_NOISE * h,
            10 * VELOCITY_NOISE * h * self.step,
            10 * VELOCITY_NOISE * h * self.step,
            1e-5,
            10 * VELOCITY_NOISE * h * self.step,
        ]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step ahead: ``mean`` (8,) or (T, 8), ``cov`` (8, 8) or (T, 8, 8) (every
        track of a frame at once: the cost is numpy's, not Python's, per track)."""
        h = mean[..., 3]
        pos = POSITION_NOISE * h * self.step
        vel = VELOCITY_NOISE * h * self.step
        small = np.ones_like(h)
        std = np.stack([pos, pos, 1e-2 * small, pos, vel, vel, 1e-5 * small, vel], axis=-1)
        noise = np.square(std)[..., None] * np.eye(2 * NDIM)
        mean = mean @ self._motion.T
        cov = self._motion @ cov @ self._motion.T + noise
        return mean, cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The state corrected by a measured box (one state or a stack, as :meth:`predict`,
        with ``xyah`` (4,) or (T, 4))."""
        pos = POSITION_NOISE * mean[..., 3]
        std = np.stack([pos, pos, 1e-1 * np.ones_like(pos), pos], axis=-1)
        noise = np.square(std)[..., None] * np.eye(NDIM)
        projected = self._observe @ cov @ self._observe.T + noise
        # The gain cov H^T S^-1, as the solution of S K^T = H cov (S and cov symmetric).
        gain = np.swapaxes(np.linalg.solve(projected, self._observe @ cov), -1, -2)
        innovation = xyah - mean @ self._observe.T
        mean = mean + (gain @ innovation[..., None])[..., 0]
        cov = cov - gain @ projected @ np.swapaxes(gain, -1, -2)
        return mean, cov

    @staticmethod
    def warp(
        mean: np.ndarray, cov: np.ndarray, transform: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The state seen through a camera motion (2x3, previous pixels to current):
        the centre moved, the velocity turned and both scaled with the zoom (one state or
        a stack of them, as :meth:`predict`)."""
        rotation = transform[:, :2]
        scale = float(np.sqrt(abs(np.linalg.det(rotation))))
        full = np.eye(2 * NDIM)
        full[0:2, 0:2] = rotation
        full[3, 3] = scale
        full[4:6, 4:6] = rotation
        full[7, 7] = scale
        mean = mean @ full.T
        mean[..., 0:2] += transform[:, 2]
        return mean, full @ cov @ full.T

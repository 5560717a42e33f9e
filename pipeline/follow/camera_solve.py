"""One axis of the virtual camera's path, solved for a whole shot at once.

A causal follower (the window chases its target with bounded speed) always
lags: on a pan the player runs ahead of the window's centre and is cut off at
its leading edge before the window catches up. The target's path is known for
the whole clip before anything is encoded, so the window's path is solved over
the shot instead, with no lag (every frame sees the frames after it):

- it stays inside a band on every frame (``lo <= p <= hi``: where the player's
  whole box is inside the window), as a hard bound;
- it is near a preferred position (the player centred, with lead room ahead of
  his motion) only where it would be more than ``dead`` from it: inside that
  dead zone it does not move at all;
- its speed and acceleration are bounded (harder still than the band: a
  whip-pan is worse than a player's elbow at the edge);
- of all such paths it takes the one of least jerk (and some acceleration).

It is least squares over the shot: each bound is a quadratic penalty switched
on where the path breaks it (an active set), a few banded solves of a system
as wide as the jerk's stencil, so the cost is linear in the frames.

Example::

    p = solve_axis(prefer, lo, hi, AxisMotion(dead=8.0, speed=20.0, accel=7.0, scale=6.0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

# Penalties, against a jerk of 1 px per frame cubed costing 1: large enough that a
# bound holds to a small fraction of a pixel, small enough that the banded system
# stays well conditioned beside the faint pull that pins a still shot.
BAND = 1e2  # one pixel outside the band, squared
KINEMATIC = 1e4  # one pixel per frame over the speed (or acceleration) limit, squared
VELOCITY = 10.0  # how much the camera's speed costs, against the time constant's balance
ROUNDS = 40  # active-set rounds; a shot settles in a handful
TOLERANCE = 0.25  # pixels: a bound broken by less is kept


@dataclass(frozen=True)
class AxisMotion:
    """How the window may move on one axis, in pixels and frames: ``dead``, the zone
    around the preferred position it does not move for; ``speed`` and ``accel``, per
    frame and per frame squared; ``scale``, the path's time constant in frames (the
    longer, the smoother)."""

    dead: float
    speed: float
    accel: float
    scale: float


def solve_axis(
    prefer: np.ndarray, lo: np.ndarray, hi: np.ndarray, motion: AxisMotion
) -> np.ndarray:
    """The window's position per frame on one axis (pixels, float).

    ``prefer``: where it would best be; ``lo``/``hi``: where it must be (``-inf``/``inf``
    where anything goes); ``motion``: how it may move.
    """
    from scipy import sparse  # loads in about 0.45 s: only where a path is solved

    dead, speed, accel, scale = motion.dead, motion.speed, motion.accel, motion.scale
    n = len(prefer)
    prefer = prefer.astype(np.float64)
    if n < 4:
        short: np.ndarray = np.clip(prefer, lo, np.maximum(lo, hi))
        return short
    ops = [_difference(n, k) for k in (1, 2, 3)]
    t = max(1.0, scale)
    # Jerk weighs 1, acceleration 1/t^2 of it, speed 1/t^4 (a camera that need not
    # move stays still rather than drift), closeness to ``prefer`` 1/t^6: the
    # smoothing spline's balance, whose time constant is ``t`` frames.
    base = (
        ops[2].T @ ops[2] + (ops[1].T @ ops[1]) / t**2 + VELOCITY * (ops[0].T @ ops[0]) / t**4
    ).tocsr()
    soft = 1.0 / t**6
    anchor = 1e-3 * soft  # pins a path that nothing else pins (a still shot)
    centre = float(np.median(prefer))
    groups = {
        "prefer": _Active(n),
        "band": _Active(n),
        "speed": _Active(n - 1),
        "accel": _Active(n - 2),
    }
    p: np.ndarray = np.clip(prefer, lo, np.maximum(lo, hi))
    for round_ in range(ROUNDS):
        velocity, acceleration = ops[0] @ p, ops[1] @ p
        changed = groups["prefer"].update(np.clip(p, prefer - dead, prefer + dead), p, 0.0)
        changed |= groups["band"].update(np.clip(p, lo, hi), p, TOLERANCE)
        changed |= groups["speed"].update(np.clip(velocity, -speed, speed), velocity, TOLERANCE)
        changed |= groups["accel"].update(
            np.clip(acceleration, -accel, accel), acceleration, TOLERANCE
        )
        if round_ and not changed:
            break
        matrix = base + sparse.identity(n) * anchor
        rhs = np.full(n, anchor * centre)
        for name, weight, op in (
            ("prefer", soft, None),
            ("band", BAND, None),
            ("speed", KINEMATIC, ops[0]),
            ("accel", KINEMATIC, ops[1]),
        ):
            active = groups[name]
            w = active.on * weight
            if op is None:
                matrix = matrix + sparse.diags(w)
                rhs += w * active.target
            else:
                matrix = matrix + op.T @ sparse.diags(w) @ op
                rhs += op.T @ (w * active.target)
        p = _solve_banded(matrix.tocsr(), rhs, 3)
    return p


class _Active:
    """One kind of bound: where it is enforced and the value it holds there."""

    def __init__(self, n: int) -> None:
        self.on = np.zeros(n, dtype=bool)
        self.target = np.zeros(n)

    def update(self, allowed: np.ndarray, value: np.ndarray, tol: float) -> bool:
        """Enforce the bound where ``value`` breaks it by more than ``tol`` (``allowed``:
        the nearest value that keeps it), and go on enforcing it where the penalty still
        holds the value at all outside; release it where the path is inside of its own
        accord. Whether anything changed."""
        outside = np.abs(value - allowed)
        now = (outside > tol) | (self.on & (outside > 0))
        changed = bool((now != self.on).any())
        self.on = now
        self.target = allowed
        return changed


def _difference(n: int, order: int) -> sparse.csr_matrix:
    """The ``order``-th forward difference as an ``(n - order, n)`` matrix."""
    from scipy import sparse  # loads in about 0.45 s: only where a path is solved

    coefficients = np.diff(np.eye(order + 1), order, axis=0)[0]
    offsets = list(range(order + 1))
    op: sparse.csr_matrix = sparse.diags(
        [np.full(n - order, c) for c in coefficients], offsets, shape=(n - order, n)
    ).tocsr()
    return op


def _solve_banded(matrix: sparse.csr_matrix, rhs: np.ndarray, bandwidth: int) -> np.ndarray:
    """Solve a symmetric positive definite banded system given as a sparse matrix."""
    from scipy.linalg import solveh_banded

    n = matrix.shape[0]
    bands = np.zeros((bandwidth + 1, n))
    for k in range(bandwidth + 1):
        bands[bandwidth - k, k:] = matrix.diagonal(k)
    solution: np.ndarray = solveh_banded(bands, rhs)
    return solution

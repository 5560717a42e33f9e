"""The spotlight annotator: darken outside a soft ellipse around a player, and a
ring at his feet, drawn straight on the Y, U and V planes of a frame.

The darkening is a lookup table applied to the whole planes (the cheapest
whole-frame operation there is); the soft edge is blended only inside the
ellipse's bounding box. Darkening RGB by ``k`` is, in limited-range YUV,
``Y' = 16 + (Y - 16) k`` and ``C' = 128 + (C - 128) k``.

Example::

    spotlight = Spotlight(dim=0.4)
    spotlight.annotate(frame, Box(600, 300, 80, 200))
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.core.boxes import Box
from pipeline.manifests.job import OverlayStyle
from pipeline.media.frames import YuvFrame

RING_YUV = (210, 16, 146)  # a warm yellow
SOFT_EDGE = 0.35  # the fade runs from the ellipse (r=1) out to r=1+SOFT_EDGE
# The lit ellipse is at least this tall and wide (fractions of the frame height):
# a small detection must not make a blemish-sized spotlight in the middle of a body.
MIN_SPOT_HALF_HEIGHT = 0.12
MIN_SPOT_HALF_WIDTH = 0.06


def _lut(offset: int, k: float) -> np.ndarray:
    values = offset + (np.arange(256, dtype=np.float32) - offset) * k
    lut: np.ndarray = np.clip(np.round(values), 0, 255).astype(np.uint8)
    return lut


def _soft_ellipse(height: int, width: int, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    """1 inside the ellipse, fading to 0 at ``1 + SOFT_EDGE`` of its radii.

    Computed in place in float32 (one buffer, no temporaries): at 1080p a big player's
    region is ~300k pixels, and the naive expression costs five times as much."""
    ys = ((np.arange(height, dtype=np.float32) - cy) / b) ** 2
    xs = ((np.arange(width, dtype=np.float32) - cx) / a) ** 2
    mask: np.ndarray = ys[:, None] + xs[None, :]
    np.sqrt(mask, out=mask)
    # (1 + SOFT_EDGE - r) / SOFT_EDGE, as a multiply and an add on the same buffer
    mask *= np.float32(-1.0 / SOFT_EDGE)
    mask += np.float32((1.0 + SOFT_EDGE) / SOFT_EDGE)
    np.clip(mask, 0.0, 1.0, out=mask)
    return mask


def _kept_inside(centre: float, radius: float, size: int, slack: float) -> float:
    """``centre`` moved (by at most ``slack``) so ``centre +- radius`` stays in ``[0, size]``."""
    low, high = radius, size - radius
    target = min(max(centre, low), high) if low <= high else size / 2
    return centre + max(-slack, min(slack, target - centre))


def _overlaps(box: Box, width: int, height: int) -> bool:
    return box.x < width and box.y < height and box.x + box.w > 0 and box.y + box.h > 0


def _blend(plane: np.ndarray, original: np.ndarray, mask: np.ndarray) -> None:
    """``plane`` (dimmed) moved towards ``original`` by ``mask``, rounded half up: the
    same arithmetic as ``dark + (original - dark) * mask + 0.5`` in float32, done by
    OpenCV's vectorised kernels in two buffers instead of numpy's five temporaries."""
    dark = plane.astype(np.float32)
    lit = original.astype(np.float32)
    cv2.subtract(lit, dark, dst=lit)
    cv2.multiply(lit, mask, dst=lit)
    cv2.add(lit, dark, dst=lit)
    cv2.add(lit, 0.5, dst=lit)
    plane[:] = lit.astype(np.uint8)  # truncation after + 0.5: round half up


class Spotlight:
    """Highlights one player per frame; configured once, called per frame."""

    def __init__(self, style: OverlayStyle = OverlayStyle.SPOTLIGHT, dim: float = 0.4) -> None:
        self.style = style
        self.dim = dim
        self._luts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # The last soft mask and its chroma-sized copy, by the geometry that made them: a
        # player standing still (a held keyframe) costs no mask at all.
        self._mask_key: tuple[float, ...] = ()
        self._masks: tuple[np.ndarray, np.ndarray] | None = None

    def annotate(self, frame: YuvFrame, box: Box | None, strength: float = 1.0) -> None:
        """Draw on ``frame`` in place; nothing when ``box`` is None or ``strength`` is 0.

        A strength below 1 (a followed player being lost) dims less and, below
        one half, drops the ring: the highlight fades instead of jumping.
        """
        if box is None or strength <= 0:
            return
        if self.style is OverlayStyle.SPOTLIGHT:
            self._spotlight(frame, box, strength)
        if strength >= 0.5:
            self._ring(frame, box)

    def _lookup(self, strength: float) -> tuple[np.ndarray, np.ndarray]:
        step = round(strength * 20)  # 5% steps: a fade shows no banding, the cache stays small
        if step not in self._luts:
            dim = 1.0 - (1.0 - self.dim) * step / 20
            self._luts[step] = (_lut(16, dim), _lut(128, dim))
        return self._luts[step]

    def _spotlight(self, frame: YuvFrame, box: Box, strength: float) -> None:
        luma, chroma = self._lookup(strength)
        height, width = frame.y.shape
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        a = max(box.w * 0.5 * 1.6 + 4, MIN_SPOT_HALF_WIDTH * height)
        b = max(box.h * 0.5 * 1.2 + 4, MIN_SPOT_HALF_HEIGHT * height)
        if _overlaps(box, width, height):
            # Kept inside the frame, never so far that the player leaves the lit core.
            cx = _kept_inside(cx, a, width, max(0.0, a - box.w / 2))
            cy = _kept_inside(cy, b, height, max(0.0, b - box.h / 2))
        reach = 1.0 + SOFT_EDGE
        # The lit region, aligned to even pixels so chroma maps onto it exactly.
        x0 = max(0, int(cx - a * reach)) & ~1
        y0 = max(0, int(cy - b * reach)) & ~1
        x1 = min(width, int(np.ceil(cx + a * reach)) + 1) & ~1
        y1 = min(height, int(np.ceil(cy + b * reach)) + 1) & ~1
        lit = x1 > x0 and y1 > y0
        if lit:
            originals = (
                frame.y[y0:y1, x0:x1].copy(),
                frame.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2].copy(),
                frame.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2].copy(),
            )
        cv2.LUT(frame.y, luma, dst=frame.y)
        cv2.LUT(frame.u, chroma, dst=frame.u)
        cv2.LUT(frame.v, chroma, dst=frame.v)
        if not lit:
            return
        mask, chroma_mask = self._mask(y1 - y0, x1 - x0, cx - x0, cy - y0, a, b)
        _blend(frame.y[y0:y1, x0:x1], originals[0], mask)
        _blend(frame.u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], originals[1], chroma_mask)
        _blend(frame.v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], originals[2], chroma_mask)

    def _mask(
        self, height: int, width: int, cx: float, cy: float, a: float, b: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The soft ellipse and its chroma-sized copy, reused while the geometry holds."""
        key = (height, width, cx, cy, a, b)
        if self._masks is None or key != self._mask_key:
            mask = _soft_ellipse(height, width, cx, cy, a, b)
            self._mask_key, self._masks = key, (mask, np.ascontiguousarray(mask[::2, ::2]))
        return self._masks

    def _ring(self, frame: YuvFrame, box: Box) -> None:
        height, width = frame.y.shape
        if not _overlaps(box, width, height):
            return
        axes = (max(2.0, box.w * 0.65), max(1.0, box.w * 0.2))
        thickness = max(2, round(box.h / 45))
        # Feet at (or past) the edge: the ring moves in by up to its own size, whole.
        reach_x, reach_y = axes[0] + thickness + 1, axes[1] + thickness + 1  # + anti-aliasing
        centre = (
            _kept_inside(box.x + box.w / 2, reach_x, width, reach_x),
            _kept_inside(box.y + box.h, reach_y, height, 2 * reach_y),
        )
        y_val, u_val, v_val = RING_YUV
        _ellipse(frame.y, centre, axes, y_val, thickness, 1)
        _ellipse(frame.u, centre, axes, u_val, thickness, 2)
        _ellipse(frame.v, centre, axes, v_val, thickness, 2)


def _ellipse(
    plane: np.ndarray,
    centre: tuple[float, float],
    axes: tuple[float, float],
    value: int,
    thickness: int,
    scale: int,
) -> None:
    shift = 4  # sub-pixel precision for cv2's fixed-point drawing
    f = (1 << shift) / scale
    cv2.ellipse(
        plane,
        (round(centre[0] * f), round(centre[1] * f)),
        (max(1, round(axes[0] * f)), max(1, round(axes[1] * f))),
        0,
        0,
        360,
        int(value),
        max(1, thickness // scale),
        cv2.LINE_AA,
        shift,
    )

"""Tiled inference: bounded memory at any resolution, and no seams.

Each tile is run with ``overlap`` pixels of real neighbouring context on every
side (clamped at the frame's edges, where whole-frame inference sees zero
padding too) and only its centre is kept. With ``overlap`` at least the
network's receptive radius the result equals whole-frame inference.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Model = Callable[[torch.Tensor], torch.Tensor]


def tiled_forward(
    model: Model, x: torch.Tensor, *, scale: int, tile: int, overlap: int
) -> torch.Tensor:
    """Run ``model`` (x``scale``) over ``x`` (B, C, H, W) tile by tile."""
    batch, channels, height, width = x.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return model(x)
    out = x.new_empty((batch, channels, height * scale, width * scale))
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            b0, r0 = min(bottom + overlap, height), min(right + overlap, width)
            result = model(x[:, :, t0:b0, l0:r0])
            dy, dx = (top - t0) * scale, (left - l0) * scale
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = result[
                :, :, dy : dy + (bottom - top) * scale, dx : dx + (right - left) * scale
            ]
    return out

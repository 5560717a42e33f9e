"""Tiled inference: bounded memory at any resolution, and no seams.

Each tile is run with ``overlap`` pixels of real neighbouring context on every
side (clamped at the frame's edges, where whole-frame inference sees zero
padding too) and only its centre is kept. With ``overlap`` at least the
network's receptive radius the result equals whole-frame inference.

``downscale`` area-averages each tile's output at once (a x4 network asked for
x2), so the full-size x4 image never exists in memory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

Model = Callable[[torch.Tensor], torch.Tensor]


def tiled_forward(
    model: Model, x: torch.Tensor, *, scale: int, tile: int, overlap: int, downscale: int = 1
) -> torch.Tensor:
    """Run ``model`` (x``scale``) over ``x`` (B, C, H, W) tile by tile; x``scale/downscale`` out."""

    def run(part: torch.Tensor) -> torch.Tensor:
        result = model(part)
        return F.avg_pool2d(result, downscale) if downscale > 1 else result

    batch, channels, height, width = x.shape
    if tile <= 0 or (height <= tile and width <= tile):
        return run(x)
    s = scale // downscale
    out = x.new_empty((batch, channels, height * s, width * s))
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            b0, r0 = min(bottom + overlap, height), min(right + overlap, width)
            result = run(x[:, :, t0:b0, l0:r0])
            dy, dx = (top - t0) * s, (left - l0) * s
            out[:, :, top * s : bottom * s, left * s : right * s] = result[
                :, :, dy : dy + (bottom - top) * s, dx : dx + (right - left) * s
            ]
    return out

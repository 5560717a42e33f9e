"""The spotlight done by bare ffmpeg, for the benches' limits: the same dim (0.4) outside
a soft ellipse around the player, composited at full resolution in ffmpeg's threaded
filters (``lutyuv``, ``alphamerge``, ``overlay``), the mask a still PNG looped (a
moving mask costs these filters the same per frame).

Example::

    mask = spotlight_mask(work / "mask.png", 1920, 1080, (60.0, 120.0))
    args = ["-i", clip, *looped(mask, 30), "-filter_complex", masked_dim("[0:v]", "[out]")]
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

# The spotlight's dim outside the player, in limited range, as ffmpeg would apply it.
DIM = "lutyuv=y='16+(val-16)*0.4':u='128+(val-128)*0.4':v='128+(val-128)*0.4'"


def spotlight_mask(path: Path, width: int, height: int, box: tuple[float, float]) -> Path:
    """A soft ellipse around a ``box``-sized (width, height) player in the middle, 0
    inside and 255 outside (the dimmed layer's alpha), as a grey PNG."""
    mask = np.full((height, width), 255, np.uint8)
    axes = (max(2, round(box[0] * 0.9)), max(2, round(box[1] * 0.75)))
    cv2.ellipse(mask, (width // 2, height // 2), axes, 0, 0, 360, 0, -1)
    feather = max(3, round(max(axes) * 0.3)) | 1
    cv2.imwrite(str(path), cv2.GaussianBlur(mask, (feather, feather), 0))
    return path


def looped(mask: Path, fps: Fraction | float) -> list[str]:
    """The input arguments of ``mask`` as an endless stream at ``fps``."""
    return ["-loop", "1", "-framerate", str(fps), "-i", str(mask)]


def masked_dim(label: str, out: str, mask: str = "[1:v]") -> str:
    """Filters dimming ``label`` outside ``mask`` into ``out`` (yuv420p)."""
    return (
        f"{label}split[base][dim];[dim]{DIM},format=yuva420p[dimmed];"
        f"[dimmed]{mask}alphamerge[top];[base][top]overlay=shortest=1:format=yuv420,"
        f"format=yuv420p{out}"
    )

"""The classical upscaler, used when no model weights are configured.

Lanczos resampling of the yuv420p frame by swscale (ffmpeg's scaler, SIMD, the
same kernel ``ffmpeg -vf scale=...:flags=lanczos`` runs), followed by a mild
unsharp mask on the luma only: ``Y + amount * (Y - gaussian(Y, sigma))`` with
amount 0.35 and sigma 1.0 output pixels, which restores some of the edge
contrast any interpolation loses without visibly haloing. Chroma is only
resampled: the eye does not see its sharpness. No colour conversion is paid.

At 608x1080 -> 1216x2160 a frame takes ~5 ms here (swscale 2.5 ms, the unsharp
mask 2 ms); OpenCV's Lanczos4 plane by plane took 23 ms.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from pipeline.media.frames import YuvFrame

UNSHARP_AMOUNT = 0.35
UNSHARP_SIGMA = 1.0


def sharpen(plane: np.ndarray) -> None:
    """Unsharp-mask ``plane`` in place."""
    blurred = cv2.GaussianBlur(plane, (0, 0), UNSHARP_SIGMA)
    plane[:] = cv2.addWeighted(plane, 1 + UNSHARP_AMOUNT, blurred, -UNSHARP_AMOUNT, 0)


def upscale_frame(frame: YuvFrame, scale: int) -> YuvFrame:
    """``frame`` ``scale`` times larger (a new frame; the timing kept), luma sharpened."""
    source: Any = frame.av_frame
    big = source.reformat(
        width=source.width * scale, height=source.height * scale, interpolation="LANCZOS"
    )
    if source.time_base is not None:
        big.pts, big.time_base = source.pts, source.time_base
    result = YuvFrame.wrap(frame.index, big)
    sharpen(result.y)
    return result

"""The upscale backends behind one contract: yuv420p planes in, bigger planes out.

    upscaler = select_backend(settings, scale=2)
    y, u, v = upscaler.upscale_batch([(y0, u0, v0), ...])[0]

The model backend loads its weights once per process (``load_model`` is
cached; ``load_model.cache_clear()`` resets it) and runs batched, tiled
inference: fp16 on CUDA, fp32 on CPU. A 4x model asked for 2x is run at 4x and
area-averaged down tile by tile.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.media.frames import YuvFrame, split_i420
from pipeline.superres.classical import upscale_frame

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


class Upscaler(Protocol):
    """Upscales frames given as (Y, U, V) planes."""

    name: str
    scale: int

    def upscale_batch(self, frames: Sequence[Planes]) -> list[Planes]:
        """Each frame ``scale`` times larger."""
        ...

    def upscale_frames(self, frames: Sequence[YuvFrame]) -> list[YuvFrame]:
        """The same on decoded frames (their timing kept): what a pass calls."""
        ...


class ClassicalUpscaler:
    """Lanczos + a mild unsharp mask on luma (see pipeline.superres.classical)."""

    name = "classical-lanczos"

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def upscale_frames(self, frames: Sequence[YuvFrame]) -> list[YuvFrame]:
        """Resample each frame with swscale's Lanczos; sharpen the luma."""
        return [upscale_frame(frame, self.scale) for frame in frames]

    def upscale_batch(self, frames: Sequence[Planes]) -> list[Planes]:
        """The same on bare planes."""
        wrapped = [YuvFrame.from_planes(i, y, u, v) for i, (y, u, v) in enumerate(frames)]
        return [(f.y, f.u, f.v) for f in self.upscale_frames(wrapped)]


def preferred_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def load_model(path: Path, device: str) -> Any:
    """The network at ``path`` on ``device``, loaded once per process."""
    from pipeline.superres.srvgg import load_srvgg

    model = load_srvgg(path, "cpu")
    if device.startswith("cuda"):
        model = model.half()
    return model.to(device)


class ModelUpscaler:
    """SRVGGNetCompact weights, tiled and batched."""

    def __init__(self, weights: Path, scale: int, *, tile: int, device: str | None = None) -> None:
        self.device = device or preferred_device()
        self.model = load_model(weights, self.device)
        self.scale = scale
        self.tile = tile
        self.name = f"srvgg-x{self.model.upscale}:{weights.name}"
        if self.model.upscale < scale or self.model.upscale % scale:
            raise ConfigError(
                f"the upscale model is x{self.model.upscale}; it cannot produce x{scale}"
            )

    def upscale_frames(self, frames: Sequence[YuvFrame]) -> list[YuvFrame]:
        """The network on decoded frames, their timing kept."""
        planes = self.upscale_batch([(f.y, f.u, f.v) for f in frames])
        return [
            YuvFrame.from_planes(f.index, y, u, v, template=f.av_frame)
            for f, (y, u, v) in zip(frames, planes, strict=True)
        ]

    def upscale_batch(self, frames: Sequence[Planes]) -> list[Planes]:
        """Convert to RGB, run the network in tiles, convert back to yuv420p."""
        import torch

        from pipeline.superres.tiling import tiled_forward

        rgb = np.stack([_to_rgb(f) for f in frames])
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        x = torch.from_numpy(rgb).to(self.device).permute(0, 3, 1, 2).to(dtype) / 255.0
        factor = self.model.upscale // self.scale
        with torch.inference_mode():
            y = tiled_forward(
                self.model,
                x,
                scale=self.model.upscale,
                tile=self.tile,
                overlap=self.model.receptive_radius,
                downscale=factor,
            )
            y.clamp_(0, 1).mul_(255.0).round_()
            out = y.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [_to_planes(np.ascontiguousarray(image)) for image in out]


def _to_rgb(planes: Planes) -> np.ndarray:
    y, u, v = planes
    h, w = y.shape
    i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)
    rgb: np.ndarray = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
    return rgb


def _to_planes(rgb: np.ndarray) -> Planes:
    h, w = rgb.shape[:2]
    return split_i420(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), w, h)


def select_backend(settings: Settings, scale: int, backend: str = "auto") -> Upscaler:
    """The model when weights are configured (or asked for), else the classical one."""
    weights = settings.models.upscale_weights
    if backend == "classical" or (backend == "auto" and weights is None):
        return ClassicalUpscaler(scale)
    if weights is None:
        raise ConfigError("upscale backend 'model' needs REELPIPE_UPSCALE_WEIGHTS")
    return ModelUpscaler(weights, scale, tile=settings.models.upscale_tile)

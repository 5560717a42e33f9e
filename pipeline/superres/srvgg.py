"""SRVGGNetCompact: the compact Real-ESRGAN video architecture.

The network of ``realesr-animevideov3`` (64 features, 16 convolutions, x4) and
``realesr-general-x4v3`` (64 features, 32 convolutions, x4): a plain stack of
3x3 convolutions with PReLU, a pixel shuffle, and the nearest-upsampled input
added back. Layer names match the published state dicts (``body.N.weight``),
which are stored under ``params_ema`` or ``params``.

Torch is imported here only; the rest of reelpipe imports this module lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.core.errors import ConfigError


class SRVGGNetCompact(nn.Module):  # type: ignore[misc]
    """``num_conv`` 3x3 convolutions at ``num_feat`` channels, then a x``upscale`` shuffle."""

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
        upscale: int = 4,
    ) -> None:  # fmt: skip
        super().__init__()
        self.num_conv = num_conv
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    @property
    def receptive_radius(self) -> int:
        """How far (input pixels) an output pixel sees: one per 3x3 convolution."""
        return self.num_conv + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, 3, H, W) in [0, 1] -> (B, 3, H*s, W*s)."""
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        base: torch.Tensor = F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        result: torch.Tensor = out + base
        return result


def _state_dict(raw: Any) -> dict[str, torch.Tensor]:
    if isinstance(raw, dict):
        for key in ("params_ema", "params"):
            if isinstance(raw.get(key), dict):
                return dict(raw[key])
        if all(isinstance(v, torch.Tensor) for v in raw.values()):
            return dict(raw)
    raise ConfigError("the upscale weights hold no 'params_ema' or 'params' state dict")


def architecture_of(state: dict[str, torch.Tensor]) -> tuple[int, int, int]:
    """(num_feat, num_conv, upscale) read off the tensor shapes."""
    convs = sorted(
        int(k.split(".")[1])
        for k, v in state.items()
        if k.startswith("body.") and k.endswith(".weight") and v.dim() == 4
    )
    if not convs or convs[0] != 0:
        raise ConfigError("the upscale weights are not an SRVGGNetCompact state dict (no body.0)")
    num_feat = int(state["body.0.weight"].shape[0])
    out_channels = int(state[f"body.{convs[-1]}.weight"].shape[0])
    upscale = round((out_channels / 3) ** 0.5)
    if upscale * upscale * 3 != out_channels:
        raise ConfigError(f"the last layer has {out_channels} channels: not 3 x scale^2")
    return num_feat, len(convs) - 2, upscale


def load_srvgg(path: Path, device: str = "cpu") -> SRVGGNetCompact:
    """Build the network the state dict at ``path`` describes and load it (eval mode)."""
    if not path.is_file():
        raise ConfigError(
            f"REELPIPE_UPSCALE_WEIGHTS points at {path}, which does not exist; "
            "unset it to use the classical upscaler"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"cannot read upscale weights {path.name}: {type(exc).__name__} "
            "(truncated or not a torch state dict?)"
        ) from exc
    state = _state_dict(raw)
    num_feat, num_conv, upscale = architecture_of(state)
    model = SRVGGNetCompact(num_feat=num_feat, num_conv=num_conv, upscale=upscale)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"upscale weights {path.name} do not fit the network: {exc}") from exc
    return model.eval().to(device)

"""Which H.264 encoder writes the video: x264 on the CPU, or NVENC on an NVIDIA GPU.

``REELPIPE_VIDEO_ENCODER``: ``auto`` (NVENC when a CUDA device is present and the
encoder opens, else libx264), ``libx264`` or ``h264_nvenc``. Whichever writes it,
the output keeps the codec rules (H.264, yuv420p, even sizes, faststart): only
the encoder's own options differ. An x264 profile maps onto NVENC's presets
(``fast`` -> ``p4``) and constant quality (``crf`` -> ``cq``).

The probe of NVENC runs once per process (``nvenc_opens.cache_clear()``
resets it): a 256x256 frame encoded, which needs the driver and a free session.

Example::

    encoder = resolve_encoder(settings.video_encoder)    # "libx264" on this machine
    stream.options = encoder_options(encoder, profile)
"""

from __future__ import annotations

import functools
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.core.settings import EncodeProfile

X264 = "libx264"
NVENC = "h264_nvenc"


class VideoEncoder(StrEnum):
    """The encoder setting."""

    AUTO = "auto"
    X264 = X264
    NVENC = NVENC


# x264 presets, fastest first, onto NVENC's p1 (fastest) .. p7 (best).
_NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p3",
    "fast": "p4",
    "medium": "p5",
    "slow": "p6",
    "slower": "p7",
    "veryslow": "p7",
}


def cuda_device_present() -> bool:
    """Whether the NVIDIA driver exposes a device here (no CUDA library needed)."""
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


@functools.cache
def nvenc_opens() -> bool:
    """Whether NVENC encodes a frame in this process (the driver, a session, the codec)."""
    if not cuda_device_present():
        return False
    import av

    try:
        codec: Any = av.CodecContext.create(NVENC, "w")
        codec.width, codec.height, codec.pix_fmt = 256, 256, "yuv420p"
        codec.time_base = Fraction(1, 30)
        codec.open()
        frame = av.VideoFrame(256, 256, "yuv420p")
        list(codec.encode(frame))
        list(codec.encode(None))
    except (av.FFmpegError, ValueError, TypeError):
        return False
    return True


def resolve_encoder(choice: str | VideoEncoder) -> str:
    """The encoder to use for ``choice``: ``auto`` picks NVENC only where it opens.

    Asking for NVENC where it does not open is a ConfigError, not a quiet fallback:
    a deployment sized for it would otherwise pay for an idle GPU.
    """
    choice = VideoEncoder(choice)
    if choice is VideoEncoder.AUTO:
        return NVENC if nvenc_opens() else X264
    if choice is VideoEncoder.NVENC and not nvenc_opens():
        raise ConfigError(
            "REELPIPE_VIDEO_ENCODER=h264_nvenc, but NVENC does not open here "
            "(no NVIDIA device or driver); use auto or libx264"
        )
    return choice.value


def encoder_options(encoder: str, profile: EncodeProfile) -> dict[str, str]:
    """The encoder's options for ``profile`` (PyAV's ``stream.options``)."""
    if encoder == NVENC:
        return {
            "preset": _NVENC_PRESETS.get(profile.preset, "p4"),
            "rc": "vbr",
            "cq": str(profile.crf),
            "b": "0",
            "profile": "high",
        }
    return {"preset": profile.preset, "crf": str(profile.crf)}


def encoder_args(encoder: str, profile: EncodeProfile) -> list[str]:
    """The same options as ffmpeg command-line arguments (after ``-c:v``)."""
    args = ["-c:v", encoder]
    for name, value in encoder_options(encoder, profile).items():
        args += [f"-{name}:v", value]
    return args

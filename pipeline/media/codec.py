"""The output rules every video written by reelpipe follows.

H.264 (libx264, or NVENC where configured: :mod:`pipeline.media.encoders`),
``yuv420p``, even width and height, ``+faststart`` (moov before mdat), audio as
AAC: playable in browsers and desktop players alike.
"""

from __future__ import annotations

from fractions import Fraction

from pipeline.core.settings import EncodeProfile
from pipeline.media.encoders import X264, encoder_args

VIDEO_CODEC = X264
PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"
# The rates an AAC track is written at. At 8 kHz one AAC frame (1024 samples) lasts 128 ms,
# and a track ends on a whole frame: at 44.1 or 48 kHz it ends within 23 ms of the video.
AAC_RATES = (44_100, 48_000)
DEFAULT_AAC_RATE = 48_000


def even(value: int) -> int:
    """``value`` rounded down to an even number (at least 2)."""
    return max(2, value - value % 2)


def ffmpeg_video_args(profile: EncodeProfile, encoder: str = VIDEO_CODEC) -> list[str]:
    """ffmpeg output arguments for the video stream."""
    return [*encoder_args(encoder, profile), "-pix_fmt", PIX_FMT, "-movflags", "+faststart"]


def aac_rate(source_rate: int | None) -> int:
    """The rate to encode AAC at from a source at ``source_rate``: kept when it is 44.1
    or 48 kHz, else 48 kHz (None: unknown, 48 kHz)."""
    return source_rate if source_rate in AAC_RATES else DEFAULT_AAC_RATE


def aac_copyable(codec: str | None, rate: int | None) -> bool:
    """True when a source audio track can be copied as it is: AAC at 44.1 or 48 kHz."""
    return codec == AUDIO_CODEC and rate in AAC_RATES


def ffmpeg_audio_args(profile: EncodeProfile, source_rate: int | None = None) -> list[str]:
    """ffmpeg output arguments for a re-encoded audio stream (AAC at :func:`aac_rate`)."""
    return [
        *["-c:a", AUDIO_CODEC, "-b:a", profile.audio_bitrate],
        *["-ar", str(aac_rate(source_rate))],
    ]


def mp4_time_base(fps: Fraction) -> Fraction:
    """The time base an MP4 written by ffmpeg at ``fps`` gets (its track timescale: the
    rate's numerator doubled up to 10,000 or more, e.g. 1/15360 at 30 fps).

    Frames handed straight to an encoder (a fused pass) are stamped on this base, as the
    same frames read back from an intermediate MP4 would be: x264's rate control sees
    identical timestamps either way, and so makes identical decisions."""
    scale = fps.numerator
    while scale < 10_000:
        scale *= 2
    return Fraction(1, scale)

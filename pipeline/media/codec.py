"""The output rules every video written by reelpipe follows.

H.264 (libx264), ``yuv420p``, even width and height, ``+faststart`` (moov before
mdat), audio as AAC: playable in browsers and desktop players alike.
"""

from __future__ import annotations

from pipeline.core.settings import EncodeProfile

VIDEO_CODEC = "libx264"
PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"


def even(value: int) -> int:
    """``value`` rounded down to an even number (at least 2)."""
    return max(2, value - value % 2)


def x264_options(profile: EncodeProfile) -> dict[str, str]:
    """Encoder options for PyAV's libx264 stream."""
    return {"preset": profile.preset, "crf": str(profile.crf)}


def ffmpeg_video_args(profile: EncodeProfile) -> list[str]:
    """ffmpeg output arguments for the video stream."""
    return [
        "-c:v",
        VIDEO_CODEC,
        "-preset",
        profile.preset,
        "-crf",
        str(profile.crf),
        "-pix_fmt",
        PIX_FMT,
        "-movflags",
        "+faststart",
    ]


def ffmpeg_audio_args(profile: EncodeProfile) -> list[str]:
    """ffmpeg output arguments for a re-encoded audio stream."""
    return ["-c:a", AUDIO_CODEC, "-b:a", profile.audio_bitrate]

"""Join the video parts of a parallel run into one MP4, without re-encoding.

Every part starts with a keyframe (each is its own x264 stream), so ffmpeg's
concat demuxer can splice the packets as they are; the audio of the stage's
input is muxed once: copied untouched when it is AAC at 44.1 or 48 kHz, encoded to
AAC at such a rate otherwise.

Example::

    join_parts([part0, part1], output, audio_source=stage_input)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.media.codec import AUDIO_CODEC, DEFAULT_AAC_RATE, aac_copyable, aac_rate
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.untrusted_input import FORMAT_WHITELIST, ffmpeg_input


def join_parts(
    parts: Sequence[Path],
    output: Path,
    *,
    audio_source: Path | None = None,
    audio_codec: str | None = AUDIO_CODEC,
    audio_bitrate: str = "192k",
    audio_rate: int | None = None,
) -> None:
    """Concatenate ``parts`` (video only) into ``output``; audio from ``audio_source``
    (whose codec is ``audio_codec`` at ``audio_rate`` Hz: anything but AAC at 44.1 or
    48 kHz is encoded to AAC at such a rate)."""
    if not parts:
        raise ValueError("nothing to join")
    listing = output.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{_quoted(p.resolve())}'\n" for p in parts))
    # The listing and the parts are this worker's own files: the concat demuxer may open
    # them (and only files); the clip's audio is opened as any upload is.
    args = ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file"]
    args += ["-format_whitelist", f"concat,{FORMAT_WHITELIST}", "-i", f"file:{listing.absolute()}"]
    maps = ["-map", "0:v:0"]
    if audio_source is not None:
        args += ffmpeg_input(audio_source)
        maps += ["-map", "1:a:0?"]
    codecs = ["-c", "copy"]
    # A rate unknown is taken as 48 kHz: AAC is then copied, as before rates were known.
    copyable = aac_copyable(audio_codec, audio_rate or DEFAULT_AAC_RATE)
    if audio_source is not None and audio_codec is not None and not copyable:
        codecs = ["-c:v", "copy", "-c:a", AUDIO_CODEC, "-b:a", audio_bitrate]
        codecs += ["-ar", str(aac_rate(audio_rate))]
    run_ffmpeg([*args, *maps, *codecs, "-movflags", "+faststart", str(output)])
    listing.unlink()


def _quoted(path: Path) -> str:
    """A path as the concat list's single-quoted string."""
    return str(path).replace("'", "'\\''")

"""A poster (JPEG) and a preview (a short silent H.264 loop) of a finished video.

Both are cut from the output where it is shown best (a frame the caller picks, e.g.
where the highlighted player is largest), read by ffmpeg with a seek: only the few
seconds they show are decoded, so a 60 s output costs what a 3 s one does.

Example::

    poster = write_poster("output.mp4", Path("poster.jpg"), at_s=4.2)
    start, length = preview_window(around_s=4.2, duration_s=12.0, length_s=3.0)
    preview = write_preview("output.mp4", Path("preview.mp4"), start_s=start, length_s=length)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InvalidMedia
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.untrusted_input import ffmpeg_input

POSTER_MAX_SIDE = 720
PREVIEW_MAX_SIDE = 480
PREVIEW_SECONDS = 3.0
# 3 s at most 1.2 Mbit/s: at most ~450 KB whatever the footage (the limit is 600 KB).
PREVIEW_MAXRATE_KBPS = 1200


@dataclass(frozen=True)
class PreviewSpec:
    """How big the poster and the preview are at most."""

    poster_max_side: int = POSTER_MAX_SIDE
    preview_max_side: int = PREVIEW_MAX_SIDE
    preview_seconds: float = PREVIEW_SECONDS
    preview_maxrate_kbps: int = PREVIEW_MAXRATE_KBPS


def fit_within(max_side: int) -> str:
    """A scale filter that keeps the aspect, caps the long side at ``max_side`` (never
    enlarging) and rounds both sides down to even numbers (H.264's 4:2:0 needs them)."""
    width = f"trunc(min(iw\\,{max_side}*iw/max(iw\\,ih))/2)*2"
    height = f"trunc(min(ih\\,{max_side}*ih/max(iw\\,ih))/2)*2"
    return f"scale={width}:{height}:flags=lanczos"


def _input(source: str, at_s: float, read_timeout_s: float) -> list[str]:
    args = ["-ss", f"{max(at_s, 0.0):.3f}"]
    if source.startswith("http"):
        args += ["-rw_timeout", str(int(read_timeout_s * 1_000_000))]
    return ffmpeg_input(source, before=args)


def write_poster(
    source: str,
    out: Path,
    *,
    at_s: float,
    spec: PreviewSpec = PreviewSpec(),
    read_timeout_s: float = 30.0,
) -> Path:
    """The frame at ``at_s`` of ``source`` (a path or a loopback URL) as a JPEG."""
    run_ffmpeg(
        [
            *_input(source, at_s, read_timeout_s),
            "-frames:v",
            "1",
            "-vf",
            fit_within(spec.poster_max_side),
            "-q:v",
            "3",
            "-f",
            "image2",
            str(out),
        ]
    )
    if not out.is_file() or out.stat().st_size == 0:
        raise InvalidMedia(f"no frame at {at_s:.3f} s to make a poster of")
    return out


def preview_window(around_s: float, duration_s: float, length_s: float) -> tuple[float, float]:
    """``(start, length)`` of a preview of at most ``length_s`` centred on ``around_s``,
    kept inside ``[0, duration_s]``."""
    length = min(length_s, duration_s)
    start = min(max(around_s - length / 2, 0.0), max(duration_s - length, 0.0))
    return start, length


def write_preview(
    source: str,
    out: Path,
    *,
    start_s: float,
    length_s: float,
    spec: PreviewSpec = PreviewSpec(),
    read_timeout_s: float = 30.0,
) -> Path:
    """A silent H.264 MP4 (faststart) of ``source`` from ``start_s``, at most
    ``spec.preview_seconds`` long."""
    start, length = start_s, min(length_s, spec.preview_seconds)
    rate = spec.preview_maxrate_kbps
    run_ffmpeg(
        [
            *_input(source, start, read_timeout_s),
            "-t",
            f"{length:.3f}",
            "-an",
            "-sn",
            "-dn",
            "-vf",
            fit_within(spec.preview_max_side),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-maxrate",
            f"{rate}k",
            "-bufsize",
            f"{rate * 2}k",
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "main",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(out),
        ]
    )
    return out

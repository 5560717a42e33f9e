"""A poster (JPEG) and a preview (a short silent H.264 loop) of a finished video.

Both are cut where the output is shown best (a frame the caller picks, e.g. where the
highlighted player is largest). A pass that already held those frames makes them itself
(:mod:`pipeline.media.pass_previews`); else :func:`cut_previews` makes both in this
process from one seek and one decode of the seconds they show: on the machine that wrote
the output, before it leaves; after a segmented stage, from the joined file; and in the
previews call, from the stored output it downloaded, when the call that wrote it could
not cut them. An ffmpeg graph that encodes the output makes them with a ``split``
(:func:`graph_previews`: framing, a reel's encode); a reel whose picture was copied,
never decoded, has them cut by ffmpeg with a seek (:func:`write_poster`,
:func:`write_preview`). Either way only the few seconds shown
are decoded, so a 60 s output costs what a 3 s one does.

Example::

    cut = cut_previews(Path("output.mp4"), Path("poster.jpg"), Path("preview.mp4"), frame=126)
    poster = write_poster("output.mp4", Path("poster.jpg"), at_s=4.2)
    start, length = preview_window(around_s=4.2, duration_s=12.0, length_s=3.0)
    preview = write_preview("output.mp4", Path("preview.mp4"), start_s=start, length_s=length)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import structlog

from pipeline.core.errors import InvalidMedia
from pipeline.core.usage import adopting_threads, sample_threads
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.pass_previews import PASS_PREVIEWS, HeldPreviews, PreviewCut
from pipeline.media.untrusted_input import ffmpeg_input

log = structlog.get_logger(__name__)

# previews/run-{epoch}/poster.jpg and preview.mp4 in the job's folder.
PREVIEWS_FOLDER = "previews"
POSTER_NAME = "poster.jpg"
PREVIEW_NAME = "preview.mp4"

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
            *_preview_codec(spec),
            str(out),
        ]
    )
    return out


def _preview_codec(spec: PreviewSpec) -> list[str]:
    """The preview's encoder and container arguments (silent x264, capped rate, faststart)."""
    rate = spec.preview_maxrate_kbps
    return [
        *["-c:v", "libx264", "-preset", "veryfast", "-crf", "28"],
        *["-maxrate", f"{rate}k", "-bufsize", f"{rate * 2}k"],
        *["-pix_fmt", "yuv420p", "-profile:v", "main", "-movflags", "+faststart", "-f", "mp4"],
    ]


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size :func:`fit_within` scales ``width`` x ``height`` to."""
    longest = max(width, height)
    w = min(width, max_side * width // longest) // 2 * 2
    h = min(height, max_side * height // longest) // 2 * 2
    return max(w, 2), max(h, 2)


def preview_length(fps: float, spec: PreviewSpec = PreviewSpec()) -> int:
    """How many frames a preview shows at most at ``fps``."""
    return max(1, round(spec.preview_seconds * fps))


def preview_frames(
    frame: int | None,
    window: tuple[int, int] | None,
    frames: int,
    fps: float,
    spec: PreviewSpec = PreviewSpec(),
) -> PreviewCut:
    """The poster's frame (``frame``, else the middle) and the preview's frames (``window``
    when given, else ``spec.preview_seconds`` around the poster, inside the output)."""
    last = max(frames - 1, 0)
    poster = min(max(frame if frame is not None else last // 2, 0), last)
    length = max(1, min(preview_length(fps, spec), frames))
    if window is not None:
        start = min(max(window[0], 0), last)
        end = min(max(window[1], start + 1), start + length, frames)
    else:
        start = min(max(poster - length // 2, 0), max(frames - length, 0))
        end = min(start + length, frames)
    return PreviewCut(poster, start, max(end, start + 1), fps)


def cut_previews(
    video: Path,
    poster: Path,
    preview: Path,
    *,
    frame: int | None,
    window: tuple[int, int] | None = None,
    spec: PreviewSpec = PreviewSpec(),
) -> PreviewCut:
    """The poster (at ``frame``, else the middle) and the preview (``window``, else 3 s
    around the poster) of ``video``, a file this process just wrote: one seek, one decode
    of the frames they show, both encoded here."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or 30)
        tb = stream.time_base or Fraction(1, 90_000)
        frames = stream.frames or round(float((stream.duration or 0) * tb) * fps)
        held = PASS_PREVIEWS.take(video, (frame, window), max(frames, 1))
        if held is not None:  # the pass that wrote it made them: nothing decoded again
            held.poster.replace(poster)
            held.preview.replace(preview)
            log.info("previews_cut", decoded=0, frame=held.cut.frame)
            return held.cut
        cut = preview_frames(frame, window, max(frames, 1), fps, spec)
        first = min(cut.frame, cut.start)
        base = stream.start_time or 0
        with adopting_threads():
            stream.codec_context.open(strict=False)
        container.seek(base + round(first / fps / tb), stream=stream, backward=True)
        writer: _PreviewWriter | None = None
        wrote_poster = False
        decoded_count = 0
        try:
            for decoded in container.decode(stream):
                if decoded.pts is None:
                    continue
                index = round(float((decoded.pts - base) * tb) * fps)
                if index == cut.frame:
                    _write_jpeg(decoded, poster, spec.poster_max_side)
                    wrote_poster = True
                if cut.start <= index < cut.end:
                    if writer is None:
                        writer = _PreviewWriter(
                            preview, decoded, Fraction(fps).limit_denominator(1001), spec
                        )
                    writer.write(decoded)
                decoded_count += 1
                if index >= max(cut.end, cut.frame + 1) - 1:
                    break
        finally:
            sample_threads()
            if writer is not None:
                writer.close()
    if not wrote_poster or writer is None:
        raise InvalidMedia(f"no frame {cut.frame} in {video.name} to make a poster of")
    log.info("previews_cut", decoded=decoded_count, frame=cut.frame)
    return cut


def graph_previews(
    label: str, video: Path, frames: int, cut: PreviewCut, spec: PreviewSpec = PreviewSpec()
) -> tuple[str, str, list[str], HeldPreviews]:
    """The poster and preview of ``video`` (``frames`` frames; its poster and preview
    where ``cut`` says: :func:`preview_frames`) made by the ffmpeg graph that writes it:
    filters that split the graph's ``label`` into the main video and the two (``[label]``
    is consumed), the main video's new label, the two outputs' arguments, and what to
    :meth:`~PassPreviews.remember` once ffmpeg has written them."""
    poster = video.with_name(f"{video.stem}-poster.jpg")
    preview = video.with_name(f"{video.stem}-preview.mp4")
    name = label.strip("[]")
    main, still, moving = f"[{name}_main]", f"[{name}_poster]", f"[{name}_preview]"
    filters = (
        f";{label}split=3{main}[{name}_still][{name}_short]"
        f";[{name}_still]select='eq(n,{cut.frame})',{fit_within(spec.poster_max_side)}{still}"
        f";[{name}_short]trim=start_frame={cut.start}:end_frame={cut.end},setpts=PTS-STARTPTS,"
        f"{fit_within(spec.preview_max_side)}{moving}"
    )
    outputs = [
        *["-map", still, "-q:v", "3", "-update", "1", "-f", "image2", str(poster)],
        *["-map", moving, "-an", "-sn", "-dn", *_preview_codec(spec), str(preview)],
    ]
    held = HeldPreviews(video, (None, None), frames, cut, poster, preview)
    return filters, main, outputs, held


def _write_jpeg(frame: Any, path: Path, max_side: int) -> None:
    width, height = fitted_size(frame.width, frame.height, max_side)
    rgb = frame.reformat(width, height, "bgr24", interpolation="LANCZOS").to_ndarray()
    ok, data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise InvalidMedia("the poster could not be encoded")
    path.write_bytes(data.tobytes())


class _PreviewWriter:
    """The preview's small encoder: frames scaled to fit, x264 as :func:`write_preview`."""

    def __init__(self, path: Path, first: Any, fps: Fraction, spec: PreviewSpec) -> None:
        self.size = fitted_size(first.width, first.height, spec.preview_max_side)
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        stream: Any = self.container.add_stream("libx264", rate=fps)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        rate = spec.preview_maxrate_kbps
        stream.options = {
            "preset": "veryfast",
            "crf": "28",
            "maxrate": f"{rate}k",
            "bufsize": f"{rate * 2}k",
            "profile": "main",
        }
        stream.codec_context.time_base = 1 / fps
        self.stream = stream
        self.count = 0
        with adopting_threads():
            self.container.start_encoding()

    def write(self, frame: Any) -> None:
        width, height = self.size
        # Area averaging: as sharp as Lanczos at a quarter of the size, in half the time.
        small = frame.reformat(width, height, "yuv420p", interpolation="AREA")
        small.pts, small.time_base = self.count, self.stream.codec_context.time_base
        small.pict_type = av.video.frame.PictureType.NONE
        self.container.mux(self.stream.encode(small))
        self.count += 1

    def close(self) -> None:
        try:
            self.container.mux(self.stream.encode(None))
        finally:
            sample_threads()
            self.container.close()

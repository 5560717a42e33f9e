"""Framing as a plan: the source-to-output timeline and the ffmpeg filter graph.

Pure functions of (params, probe), so they are tested without encoding. The
video is re-timed with one piecewise ``setpts`` expression (a single stream:
memory stays flat however long the clip), then ``fps`` makes it constant-rate
again (slow motion repeats frames, speed-up drops them). The audio is cut into
the same pieces and each is time-stretched with ``atempo`` so both stay in sync.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import StageParamsInvalid
from pipeline.manifests.job import FramingParams
from pipeline.manifests.timeline import FramingTimeline, Piece, Rect
from pipeline.media.codec import even
from pipeline.media.probe import VideoInfo
from pipeline.stages.follow_path import window_size


def framing_warnings(params: FramingParams, info: VideoInfo) -> list[str]:
    """What :func:`plan_timeline` adjusts rather than refuses, for the status's ``warnings``."""
    duration = info.duration_s
    slack = 1.0 / float(info.fps)  # containers round the duration to a frame
    warnings = []
    if params.trim is not None and params.trim.end_s > duration + slack:
        warnings.append(
            f"framing.trim.end_s ({params.trim.end_s:g} s) is past the end of the clip "
            f"({duration:.2f} s): the trim ends with the clip"
        )
    end = min(params.trim.end_s, duration) if params.trim else duration
    start = params.trim.start_s if params.trim else 0.0
    for seg in params.speed:
        if seg.end_s <= start or seg.start_s >= end:
            warnings.append(
                f"framing.speed {seg.start_s:g}-{seg.end_s:g} s lies outside the "
                f"{start:g}-{end:.2f} s that is kept: it has no effect"
            )
    return warnings


def plan_timeline(
    params: FramingParams, info: VideoInfo, follow: np.ndarray | None = None
) -> FramingTimeline:
    """The timeline framing will produce from this clip; StageParamsInvalid if it cannot.

    ``follow`` is the moving crop's top-left corner per source frame (``follow``
    framing); ``aspect`` alone centres a window of that shape.
    """
    width, height = info.display_width, info.display_height
    duration = info.duration_s
    start, end = (params.trim.start_s, params.trim.end_s) if params.trim else (0.0, duration)
    if start >= duration:
        raise StageParamsInvalid(
            f"framing.trim starts at {start:g} s but the clip is only {duration:.2f} s long"
        )
    end = min(end, duration)
    pieces: list[Piece] = []
    cursor = start
    for seg in sorted(params.speed, key=lambda s: s.start_s):
        seg_start, seg_end = max(seg.start_s, start), min(seg.end_s, end)
        if seg_end <= seg_start:
            continue
        if seg_start > cursor:
            pieces.append(Piece(source_start_s=cursor, source_end_s=seg_start, factor=1.0))
        pieces.append(Piece(source_start_s=seg_start, source_end_s=seg_end, factor=seg.factor))
        cursor = seg_end
    if cursor < end:
        pieces.append(Piece(source_start_s=cursor, source_end_s=end, factor=1.0))
    if params.crop is not None:
        c = params.crop
        crop = Rect(x=c.x - c.x % 2, y=c.y - c.y % 2, width=even(c.width), height=even(c.height))
        if crop.x + crop.width > width or crop.y + crop.height > height:
            raise StageParamsInvalid(
                f"framing.crop ({c.x}, {c.y}) {c.width}x{c.height} does not fit inside "
                f"the {width}x{height} clip"
            )
    elif params.aspect_ratio is not None:
        win_w, win_h = window_size(width, height, params.aspect_ratio)
        crop = Rect(
            x=(width - win_w) // 4 * 2, y=(height - win_h) // 4 * 2, width=win_w, height=win_h
        )
    else:
        crop = Rect(x=0, y=0, width=even(width), height=even(height))
    path: list[tuple[int, int]] = []
    if follow is not None and len(follow):
        path = [(int(x), int(y)) for x, y in follow]
        crop = crop.model_copy(update={"x": path[0][0], "y": path[0][1]})
    return FramingTimeline(
        source_width=width,
        source_height=height,
        source_fps=float(info.fps),
        output_fps=float(info.fps),
        crop=crop,
        pieces=pieces,
        crop_path=path,
    )


def crop_commands(timeline: FramingTimeline, frame_count: int) -> str:
    """``sendcmd`` lines moving the ``crop@follow`` window, in the graph's time
    (zero at the first kept source frame); one line per change of position."""
    fps = timeline.source_fps
    origin = timeline.pieces[0].source_start_s
    first = max(0, int(origin * fps))
    last = min(frame_count, len(timeline.crop_path))
    lines, previous = [], None
    for k in range(first, last):
        position = timeline.crop_path[k]
        if position == previous:
            continue
        previous = position
        # Half a frame early, so float rounding never delays a move by one frame.
        t = max(0.0, (k - 0.5) / fps - origin) if k > first else 0.0
        lines.append(f"{t:.6f} crop@follow x {position[0]}, crop@follow y {position[1]};")
    return "\n".join(lines) + "\n"


def filter_escape(path: str) -> str:
    """A file path as a filter option value: quoted (inside quotes only ' is special)."""
    return "'" + path.replace("'", "'\\''") + "'"


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _retime_expression(timeline: FramingTimeline, origin: float) -> str:
    """``setpts`` expression mapping source time T (from the trim start) to output time."""
    expr = ""
    out_start = 0.0
    terms = []
    for piece in timeline.pieces:
        rel = piece.source_start_s - origin
        terms.append(
            (piece.source_end_s - origin, f"{_num(out_start)}+(T-{_num(rel)})/{_num(piece.factor)}")
        )
        out_start += piece.output_duration_s
    expr = terms[-1][1]
    for rel_end, term in reversed(terms[:-1]):
        expr = f"if(lt(T,{_num(rel_end)}),{term},{expr})"
    return f"({expr})/TB"


def atempo_chain(factor: float) -> str:
    """``atempo`` filters giving ``factor`` (each one limited to 0.5-2.0 for quality)."""
    parts = []
    while factor < 0.5:
        parts.append("atempo=0.5")
        factor /= 0.5
    while factor > 2.0:
        parts.append("atempo=2")
        factor /= 2.0
    if abs(factor - 1.0) > 1e-9:
        parts.append(f"atempo={_num(factor)}")
    return ",".join(parts) or "anull"


def filter_graph(
    timeline: FramingTimeline, fps: str, has_audio: bool, commands: Path | None = None
) -> str:
    """The ``-filter_complex`` graph; outputs ``[v]`` and, with audio, ``[a]``.

    A moving crop (``commands``: a ``sendcmd`` file) is applied before the
    re-timing, on source timestamps; a fixed crop after it.
    """
    origin = timeline.pieces[0].source_start_s
    c = timeline.crop
    retime = f"setpts='{_retime_expression(timeline, origin)}'"
    if commands is not None:
        moving = (
            f"sendcmd=f={filter_escape(str(commands))},crop@follow={c.width}:{c.height}:{c.x}:{c.y}"
        )
        video = f"[0:v]setpts=PTS-STARTPTS,{moving},{retime},fps={fps},format=yuv420p[v]"
    else:
        video = (
            f"[0:v]setpts=PTS-STARTPTS,{retime},"
            f"crop={c.width}:{c.height}:{c.x}:{c.y},fps={fps},format=yuv420p[v]"
        )
    if not has_audio:
        return video
    n = len(timeline.pieces)
    if n == 1 and timeline.pieces[0].factor == 1.0:
        return f"{video};[0:a]asetpts=PTS-STARTPTS[a]"
    split = "".join(f"[as{i}]" for i in range(n))
    chains = [f"[0:a]asetpts=PTS-STARTPTS,asplit={n}{split}"]
    for i, piece in enumerate(timeline.pieces):
        start, end = piece.source_start_s - origin, piece.source_end_s - origin
        chains.append(
            f"[as{i}]atrim=start={_num(start)}:end={_num(end)},asetpts=PTS-STARTPTS,"
            f"{atempo_chain(piece.factor)}[ap{i}]"
        )
    joined = "".join(f"[ap{i}]" for i in range(n))
    chains.append(f"{joined}concat=n={n}:v=0:a=1[a]")
    return ";".join([video, *chains])

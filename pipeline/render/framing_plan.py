"""Framing as a plan: the source-to-output timeline and the ffmpeg filter graph.

Pure functions of (params, probe), so they are tested without encoding. Without
speed changes the video is one chain (trim, crop, ``fps``). With them, video
and audio are cut into the same pieces: each video piece is re-timed by its
factor and made constant-rate again, a slowed one with its interpolation
(``fps`` repeats frames, ``framerate`` blends neighbours, ``minterpolate``
compensates motion; a speed-up drops frames), and each audio piece is
time-stretched with ``atempo`` so both stay in sync. The pieces follow one
another in source time, so the split never holds more than a few frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.core.errors import StageParamsInvalid
from pipeline.follow.camera_path import window_size
from pipeline.manifests.job import FramingParams
from pipeline.manifests.timeline import FramingTimeline, Piece, Rect
from pipeline.media.codec import even
from pipeline.media.probe import VideoInfo


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
        pieces.append(
            Piece(
                source_start_s=seg_start,
                source_end_s=seg_end,
                factor=seg.factor,
                interpolate=seg.interpolation.value,
            )
        )
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


MOTION_INTERPOLATION = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def constant_rate(piece: Piece, fps: str) -> str:
    """The filter that makes a re-timed piece constant-rate at ``fps`` again."""
    if piece.factor < 1.0 and piece.interpolate == "blend":
        return f"framerate=fps={fps}"
    if piece.factor < 1.0 and piece.interpolate == "motion":
        # minterpolate looks two frames ahead and stops short of the piece's end: the
        # source tail is repeated for it, and the result cut to the piece's length.
        length = _num(piece.output_duration_s)
        return (
            f"tpad=stop_mode=clone:stop=4,minterpolate=fps={fps}:{MOTION_INTERPOLATION},"
            f"trim=duration={length}"
        )
    return f"fps={fps}"


def filter_graph(
    timeline: FramingTimeline,
    fps: str,
    has_audio: bool,
    commands: Path | None = None,
    *,
    guard: str | None = None,
) -> str:
    """The ``-filter_complex`` graph; outputs ``[v]`` and, with audio, ``[a]``.

    ``guard`` comes first on the source (:func:`pipeline.media.frame_size.size_guard`:
    the graph fails rather than take pictures of another size). A moving crop
    (``commands``: a ``sendcmd`` file) is applied next, on source timestamps; a fixed
    crop after the pieces are joined.
    """
    c = timeline.crop
    head = f"[0:v]{guard + ',' if guard else ''}setpts=PTS-STARTPTS"
    if commands is not None:
        head += f",sendcmd=f={filter_escape(str(commands))},"
        head += f"crop@follow={c.width}:{c.height}:{c.x}:{c.y}"
    crop = "" if commands is not None else f"crop={c.width}:{c.height}:{c.x}:{c.y},"
    pieces = timeline.pieces
    whole = len(pieces) == 1 and pieces[0].factor == 1.0
    if whole:
        video = f"{head},{crop}fps={fps},format=yuv420p[v]"
    else:
        video = _in_pieces(
            head,
            "v",
            timeline,
            lambda p: f"setpts=(PTS-STARTPTS)/{_num(p.factor)},{constant_rate(p, fps)}",
            f",{crop}format=yuv420p[v]",
        )
    if not has_audio:
        return video
    if whole:
        return f"{video};[0:a]asetpts=PTS-STARTPTS[a]"
    audio = _in_pieces(
        "[0:a]asetpts=PTS-STARTPTS",
        "a",
        timeline,
        lambda p: f"asetpts=PTS-STARTPTS,{atempo_chain(p.factor)}",
        "[a]",
    )
    return f"{video};{audio}"


def _in_pieces(
    head: str, kind: str, timeline: FramingTimeline, retime: Callable[[Piece], str], tail: str
) -> str:
    """``head`` split into the timeline's pieces, each trimmed to its source time and
    re-timed by ``retime``, then joined in order and finished by ``tail`` (filters after
    a comma, or the output label).

    ``kind`` is ``v`` or ``a``; the pieces follow one another in source time, so the
    split never holds more than a few frames."""
    audio = kind == "a"
    prefix = "a" if audio else ""
    origin = timeline.pieces[0].source_start_s
    n = len(timeline.pieces)
    chains = [f"{head},{prefix}split={n}" + "".join(f"[{kind}s{i}]" for i in range(n))]
    for i, piece in enumerate(timeline.pieces):
        start, end = piece.source_start_s - origin, piece.source_end_s - origin
        chains.append(
            f"[{kind}s{i}]{prefix}trim=start={_num(start)}:end={_num(end)},"
            f"{retime(piece)}[{kind}p{i}]"
        )
    joined = "".join(f"[{kind}p{i}]" for i in range(n))
    chains.append(f"{joined}concat=n={n}:v={int(not audio)}:a={int(audio)}{tail}")
    return ";".join(chains)

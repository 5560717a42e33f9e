"""Many pieces in, one reel out: cut or crossfaded, one size and rate, loudness matched.

A reel is an ordered list of pieces (a clip, or a stage's output, with the
frames ``[start, end)`` of it to keep). They are put end to end in one ffmpeg
graph and encoded once:

- every piece is brought to the reel's rate (``fps``), cut to its frames
  exactly (``trim`` by frame number), scaled into the reel's size (padded, never
  stretched) and given square pixels;
- its audio is cut to the same span by sample count, mixed to stereo at
  48 kHz, and brought to the reel's loudness from a first pass that measured it
  (:mod:`pipeline.media.loudness`); a piece with no sound gets silence of its
  length, so audio and video stay together;
- pieces join with a cut (``concat``) or a crossfade of a whole number of
  frames (``xfade`` on the video, ``acrossfade`` on the audio, of the same
  length): the reel has the pieces' frames less one crossfade per join, and its
  audio ends with its video.

Where the pieces are already in the reel's format (H.264 ``yuv420p`` of its size,
square pixels, its constant rate, the same codec set-up), the joins are cuts, and
every piece starts on a keyframe and ends on one (or at its file's end: a whole
file is always such a piece), the picture is not encoded again: the concat
demuxer joins the pieces' packets as they are (``-c:v copy``), and only the sound
goes through the graph (its loudness needs it). A reel then costs no encode of
its picture at all; any other reel costs exactly one.

:func:`plan` is pure (the graph and the counts it promises, tested without
encoding); :func:`assemble` measures, plans and encodes (or copies).

Example::

    pieces = [Piece(Path("a.mp4"), 60, 180, has_audio=True), Piece(Path("b.mp4"), 0, 90, False)]
    made = assemble(pieces, Path("reel.mp4"), ReelFormat(1080, 1920, Fraction(30)))
    made.frames   # 120 + 90 - 15 with a 0.5 s crossfade at 30 fps
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from pipeline.core.settings import EncodeProfile
from pipeline.media.codec import AUDIO_CODEC, PIX_FMT, ffmpeg_video_args
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.loudness import RATE, Loudness, LoudnessTarget, measure, normalise_filter
from pipeline.media.previews import graph_previews, preview_frames
from pipeline.media.untrusted_input import FORMAT_WHITELIST, ffmpeg_input, pyav_open_args

CHANNELS = "stereo"


@dataclass(frozen=True)
class Piece:
    """Frames ``[start, end)`` of ``path`` (counted at the reel's rate), and whether it
    has a sound track."""

    path: Path
    start: int
    end: int
    has_audio: bool

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ReelFormat:
    """The reel's picture (even width and height), rate, how pieces join (a crossfade
    of ``crossfade_s``, 0 for cuts) and its loudness."""

    width: int
    height: int
    fps: Fraction
    crossfade_s: float = 0.0
    loudness: LoudnessTarget = field(default_factory=LoudnessTarget)
    encode: EncodeProfile = field(default_factory=EncodeProfile)

    def crossfade_frames(self) -> int:
        """The crossfade in whole frames (0: cuts)."""
        return round(self.crossfade_s * self.fps)


@dataclass(frozen=True)
class ReelPlan:
    """The graph that makes the reel, and what it will hold."""

    filter_graph: str
    frames: int  # video frames of the reel
    samples: int  # audio samples of the reel, at RATE
    starts: tuple[int, ...]  # the reel frame each piece starts at


@dataclass(frozen=True)
class AssembledReel:
    """What :func:`assemble` wrote."""

    path: Path
    frames: int
    duration_s: float
    starts: tuple[int, ...]
    loudness: tuple[Loudness | None, ...]  # each piece's, as measured (None: no sound)
    copied: bool = False  # the picture joined by stream copy, not encoded again
    # The reel's poster and preview, when the encode that wrote it made them (a copied
    # picture is never decoded: they are cut from the file afterwards).
    previews: tuple[Path, Path] | None = None


@dataclass(frozen=True)
class Shown:
    """Where the reel's poster is (a reel frame) and the frames its preview covers."""

    poster_frame: int
    preview: tuple[int, int]


def plan(pieces: Sequence[Piece], reel: ReelFormat, levels: Sequence[Loudness | None]) -> ReelPlan:
    """The filter graph putting ``pieces`` (input ``i`` is piece ``i``) end to end, each
    piece's audio normalised from its measured level in ``levels``."""
    if not pieces:
        raise ValueError("a reel needs at least one piece")
    fade = reel.crossfade_frames()
    for i, piece in enumerate(pieces):
        if piece.start < 0 or piece.frames <= 0:
            raise ValueError(f"piece {i}: frames [{piece.start}, {piece.end}) hold nothing")
        if len(pieces) > 1 and piece.frames <= fade:
            raise ValueError(f"piece {i}: {piece.frames} frames, no longer than the crossfade")
    chains = [_video_chain(i, p, reel) for i, p in enumerate(pieces)]
    chains += [_audio_chain(i, p, reel, levels[i]) for i, p in enumerate(pieces)]
    joins, starts = _joins(pieces, reel, fade)
    frames = sum(p.frames for p in pieces) - fade * (len(pieces) - 1)
    samples = sum(_samples(p.frames, reel.fps) for p in pieces)
    samples -= _samples(fade, reel.fps) * (len(pieces) - 1)
    return ReelPlan(";".join([*chains, *joins]), frames, samples, tuple(starts))


def assemble(
    pieces: Sequence[Piece],
    output: Path,
    reel: ReelFormat,
    *,
    on_frames: Callable[[int], None] | None = None,
    shown: Shown | None = None,
) -> AssembledReel:
    """Measure each piece's loudness, then encode the reel to ``output`` (H.264 +
    AAC, the output rules of :mod:`pipeline.media.codec`) in one pass; its picture
    stream-copied instead when :func:`copy_spans` allows it. With ``shown``, the encode
    also writes the reel's poster and preview from the same frames (``split`` in the
    graph)."""
    levels = [
        _measured(p, reel) if p.has_audio else None
        for p in pieces  # the first pass, one piece at a time
    ]
    made = plan(pieces, reel, levels)
    spans = copy_spans(pieces, reel)
    extra: list[str] = []
    previews = None
    if spans is not None:
        args = _copy_args(pieces, reel, levels, spans, output)
    else:
        graph, video = made.filter_graph, "[vout]"
        if shown is not None:
            cut = preview_frames(shown.poster_frame, shown.preview, made.frames, float(reel.fps))
            filters, video, extra, held = graph_previews("[vout]", output, made.frames, cut)
            graph += filters
            previews = (held.poster, held.preview)
        inputs = [arg for p in pieces for arg in ffmpeg_input(p.path)]
        args = [*inputs, "-filter_complex", graph, "-map", video, "-map", "[aout]"]
        args += [*ffmpeg_video_args(reel.encode), "-r", str(reel.fps)]
    args += ["-c:a", AUDIO_CODEC, "-b:a", reel.encode.audio_bitrate, "-ar", str(RATE)]
    args += [str(output), *extra]
    run_ffmpeg(args, on_frames=on_frames)
    return AssembledReel(
        output,
        made.frames,
        made.frames / float(reel.fps),
        made.starts,
        tuple(levels),
        copied=spans is not None,
        previews=previews,
    )


# -- the picture by stream copy ----------------------------------------------------


@dataclass(frozen=True)
class CodedVideo:
    """A file's video stream as coded: what must match the reel's, and where its
    keyframes are."""

    codec: str
    pix_fmt: str | None
    width: int
    height: int
    square: bool
    frame_s: float | None  # every frame's length when constant (None: varies)
    extradata: bytes | None
    keyframes: dict[int, tuple[float, float]]  # frame index -> its (pts, dts) in seconds
    frames: int

    @classmethod
    def of(cls, path: Path) -> CodedVideo | None:
        """Read from the packets alone (nothing is decoded); None without a video."""
        target, options = pyav_open_args(path)
        with av.open(target, options=options) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            base = stream.time_base
            ctx = stream.codec_context
            packets = sorted(
                (int(packet.pts), int(packet.dts), bool(packet.is_keyframe))
                for packet in container.demux(stream)
                if packet.pts is not None and packet.dts is not None and packet.size
            )
            sar = ctx.sample_aspect_ratio
            facts = (ctx.name, ctx.format.name if ctx.format else None, ctx.width, ctx.height)
            square = sar is None or sar == 0 or sar == 1
            extradata = bytes(ctx.extradata) if ctx.extradata else None
        steps = {b[0] - a[0] for a, b in itertools.pairwise(packets)}
        step = float(steps.pop() * base) if len(steps) == 1 and base is not None else None
        unit = float(base) if base is not None else 0.0
        keyframes = {
            i: (pts * unit, dts * unit) for i, (pts, dts, key) in enumerate(packets) if key
        }
        return cls(*facts, square, step, extradata, keyframes, len(packets))

    def fits(self, reel: ReelFormat) -> bool:
        """Whether the stream is already what the reel's encode would make."""
        return (
            self.codec == "h264"
            and self.pix_fmt == PIX_FMT
            and (self.width, self.height) == (reel.width, reel.height)
            and self.square
            and self.frame_s is not None
            and abs(self.frame_s - 1 / float(reel.fps)) < 1e-4
        )


@dataclass(frozen=True)
class CopySpan:
    """Where the concat demuxer takes a piece: from the keyframe at ``inpoint`` (its
    presentation time), up to the packet decoded at ``outpoint`` (the next keyframe's
    decode time: the demuxer drops packets by decode time, and a closed GOP's frames
    before that keyframe are all decoded before it; None: to the file's end), lasting
    ``duration`` (the piece's frames)."""

    inpoint: float
    outpoint: float | None
    duration: float


def copy_spans(pieces: Sequence[Piece], reel: ReelFormat) -> list[CopySpan] | None:
    """Each piece's span when the reel's picture can be joined by stream copy; None when
    it must be encoded."""
    if reel.crossfade_frames() or not pieces:
        return None
    spans: list[CopySpan] = []
    first: CodedVideo | None = None
    for piece in pieces:
        coded = CodedVideo.of(piece.path)
        if coded is None or not coded.fits(reel):
            return None
        first = first or coded
        if coded.extradata != first.extradata:  # one set-up for the whole stream
            return None
        if piece.start not in coded.keyframes or piece.end > coded.frames:
            return None
        if piece.end < coded.frames and piece.end not in coded.keyframes:
            return None
        end = None if piece.end == coded.frames else coded.keyframes[piece.end][1]
        length = float(piece.frames / reel.fps)
        spans.append(CopySpan(coded.keyframes[piece.start][0], end, length))
    return spans


def _copy_args(
    pieces: Sequence[Piece],
    reel: ReelFormat,
    levels: Sequence[Loudness | None],
    spans: list[CopySpan],
    output: Path,
) -> list[str]:
    """ffmpeg arguments joining the pieces' pictures by the concat demuxer (a list this
    module writes, of these files only) and their sound through the graph."""
    listing = output.with_name(output.stem + ".pieces.ffconcat")
    lines = ["ffconcat version 1.0"]
    for piece, span in zip(pieces, spans, strict=True):
        lines.append("file '" + str(piece.path.absolute()).replace("'", "'\\''") + "'")
        lines.append(f"inpoint {span.inpoint:.6f}")
        if span.outpoint is not None:
            lines.append(f"outpoint {span.outpoint:.6f}")
        lines.append(f"duration {span.duration:.6f}")
    listing.write_text("\n".join(lines) + "\n")
    args = ["-protocol_whitelist", "file", "-format_whitelist", f"concat,{FORMAT_WHITELIST}"]
    args += ["-f", "concat", "-safe", "0", "-i", str(listing)]
    chains = []
    for i, piece in enumerate(pieces):
        if piece.has_audio:
            args += ffmpeg_input(piece.path)
        chains.append(_audio_chain(i, piece, reel, levels[i], source=1 + _heard_before(pieces, i)))
    joined = "".join(f"[a{i}]" for i in range(len(pieces)))
    chains.append(f"{joined}concat=n={len(pieces)}:v=0:a=1[aout]")
    args += ["-filter_complex", ";".join(chains), "-map", "0:v:0", "-map", "[aout]"]
    return [*args, "-c:v", "copy", "-movflags", "+faststart"]


def _heard_before(pieces: Sequence[Piece], i: int) -> int:
    """How many pieces before ``i`` have sound (each is one input after the list)."""
    return sum(1 for p in pieces[:i] if p.has_audio)


def _measured(piece: Piece, reel: ReelFormat) -> Loudness:
    start_s, end_s = piece.start / reel.fps, piece.end / reel.fps
    return measure(piece.path, start_s=float(start_s), end_s=float(end_s), target=reel.loudness)


def _samples(frames: int, fps: Fraction) -> int:
    """Audio samples at :data:`RATE` lasting ``frames`` frames."""
    return round(frames * RATE / fps)


def _video_chain(i: int, piece: Piece, reel: ReelFormat) -> str:
    w, h = reel.width, reel.height
    return (
        f"[{i}:v:0]fps={reel.fps},trim=start_frame={piece.start}:end_frame={piece.end},"
        f"setpts=PTS-STARTPTS,scale={w}:{h}:force_original_aspect_ratio=decrease,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,format={PIX_FMT}[v{i}]"
    )


def _audio_chain(
    i: int, piece: Piece, reel: ReelFormat, level: Loudness | None, *, source: int | None = None
) -> str:
    """Piece ``i``'s sound as ``[a{i}]``, from input ``source`` (``i`` when not given)."""
    start, count = _samples(piece.start, reel.fps), _samples(piece.frames, reel.fps)
    source = i if source is None else source
    shape = f"aformat=sample_rates={RATE}:channel_layouts={CHANNELS}"
    if not piece.has_audio:
        return f"anullsrc=r={RATE}:cl={CHANNELS},atrim=end_sample={count}[a{i}]"
    gain = normalise_filter(level, reel.loudness) if level is not None else "anull"
    return (
        f"[{source}:a:0]aresample={RATE},{shape},"
        f"atrim=start_sample={start}:end_sample={start + count},"
        f"asetpts=PTS-STARTPTS,{gain},{shape},apad=whole_len={count},"
        f"atrim=end_sample={count}[a{i}]"
    )


def _joins(pieces: Sequence[Piece], reel: ReelFormat, fade: int) -> tuple[list[str], list[int]]:
    """The filters joining the pieces' ``[v{i}]``/``[a{i}]`` into ``[vout]``/``[aout]``,
    and the reel frame each piece starts at."""
    n = len(pieces)
    starts, at = [], 0
    for piece in pieces:
        starts.append(at)
        at += piece.frames - fade
    if n == 1:
        return ["[v0]null[vout]", "[a0]anull[aout]"], starts
    if fade == 0:
        streams = "".join(f"[v{i}][a{i}]" for i in range(n))
        return [f"{streams}concat=n={n}:v=1:a=1[vout][aout]"], starts
    duration = fade / reel.fps
    fade_samples = _samples(fade, reel.fps)
    out, video, audio = [], "[v0]", "[a0]"
    for i in range(1, n):
        offset = starts[i] / reel.fps
        v_next = "[vout]" if i == n - 1 else f"[vx{i}]"
        a_next = "[aout]" if i == n - 1 else f"[ax{i}]"
        out.append(
            f"{video}[v{i}]xfade=transition=fade:duration={float(duration):.6f}"
            f":offset={float(offset):.6f}{v_next}"
        )
        out.append(f"{audio}[a{i}]acrossfade=ns={fade_samples}:c1=tri:c2=tri{a_next}")
        video, audio = v_next, a_next
    return out, starts

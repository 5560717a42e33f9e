"""A reel's assembly vs one bare ffmpeg command doing the same cut, side by side.

Three generated 1080p30 clips with sound (quiet, loud, in between), a moment of
each (``--seconds`` long), crossfaded 0.5 s into one reel:

(a) ``reel_assembly.assemble``: a loudness pass over each piece, then one
    graph (fps, trim, scale/pad, loudnorm with the measured figures, xfade and
    acrossfade) and one x264 encode;
(b) the limit: one ffmpeg command with the same trims, xfade/acrossfade and
    encode, its loudness normalised in one dynamic pass (``loudnorm`` with no
    measurements: what a hand-written command does).

Then the same three clips whole, joined by cuts (``--case cuts``): they are already
in the reel's format, so (a) copies their pictures (the concat demuxer) and only
encodes the sound; against (b) one ffmpeg command with the ``concat`` filter and
one encode (what a hand-written reel does), and (c) one ffmpeg command with the
concat demuxer, ``-c:v copy`` and one-pass ``loudnorm`` (the least a copy costs).

Runs alternate (a, b, a, b, ...); best and median of ``--runs`` are reported, and
the reel's frames and loudness are checked on (a).
Usage (from the repository root):
python -m bench.reel_assembly [--runs 3] [--seconds 4] [--case both|crossfade|cuts]
"""

from __future__ import annotations

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

from bench.measure import HEADER, Timing, median, row, run, time_call
from pipeline.core.settings import EncodeProfile
from pipeline.media.codec import ffmpeg_video_args
from pipeline.media.loudness import measure
from pipeline.media.probe import probe
from pipeline.media.reel_assembly import Piece, ReelFormat, assemble

PROFILE = EncodeProfile(preset="fast", crf=23)
W, H, FPS = 1920, 1080, 30
LEVELS_DB = (-24.0, 6.0, -6.0)


def make_clips(work: Path, seconds: float) -> list[Path]:
    clips = []
    for i, level in enumerate(LEVELS_DB):
        path = work / f"clip{i}.mp4"
        run(
            [
                "ffmpeg", "-v", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={seconds + 2}",
                "-f", "lavfi", "-i", f"anoisesrc=a=0.3:c=pink:d={seconds + 2},volume={level}dB",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-ac", "2", "-shortest", str(path),
            ]
        )  # fmt: skip
        clips.append(path)
    return clips


def bare(clips: list[Path], pieces: list[Piece], fade: int, out: Path) -> None:
    """(b) one ffmpeg command: the same cuts and crossfades, loudness in one pass."""
    chains, video, audio = [], "[v0]", "[a0]"
    for i, p in enumerate(pieces):
        chains.append(
            f"[{i}:v]trim=start_frame={p.start}:end_frame={p.end},setpts=PTS-STARTPTS[v{i}]"
        )
        chains.append(
            f"[{i}:a]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
            f"atrim=start={p.start / FPS}:end={p.end / FPS},asetpts=PTS-STARTPTS[a{i}]"
        )
    at = 0
    for i in range(1, len(pieces)):
        at += pieces[i - 1].frames - fade
        v, a = f"[vx{i}]", f"[ax{i}]"
        chains.append(f"{video}[v{i}]xfade=duration={fade / FPS}:offset={at / FPS}{v}")
        chains.append(f"{audio}[a{i}]acrossfade=d={fade / FPS}{a}")
        video, audio = v, a
    chains.append(
        f"{audio}loudnorm=I=-14:TP=-1:LRA=11,aresample=48000,aformat=channel_layouts=stereo[aout]"
    )
    inputs = [arg for c in clips for arg in ("-i", str(c))]
    run(
        [
            "ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", ";".join(chains),
            "-map", video, "-map", "[aout]", *ffmpeg_video_args(PROFILE),
            "-c:a", "aac", "-b:a", "192k", str(out),
        ]
    )  # fmt: skip


LOUDNORM = "loudnorm=I=-14:TP=-1:LRA=11,aresample=48000,aformat=channel_layouts=stereo"


def bare_concat(clips: list[Path], out: Path) -> None:
    """(b) whole clips cut together by one ffmpeg command: ``concat`` and one encode."""
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(clips)))
    graph = f"{streams}concat=n={len(clips)}:v=1:a=1[v][a];[a]{LOUDNORM}[aout]"
    inputs = [arg for c in clips for arg in ("-i", str(c))]
    run(
        [
            "ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph,
            "-map", "[v]", "-map", "[aout]", *ffmpeg_video_args(PROFILE),
            "-c:a", "aac", "-b:a", "192k", str(out),
        ]
    )  # fmt: skip


def bare_copy(clips: list[Path], out: Path) -> None:
    """(c) whole clips by the concat demuxer: the pictures copied, the sound in one pass."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
            "-af", LOUDNORM, "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
            "-movflags", "+faststart", str(out),
        ]
    )  # fmt: skip


def cuts(clips: list[Path], work: Path, runs: int) -> None:
    """The whole clips joined by cuts: (a) against (b) and (c), alternating."""
    frames_each = probe(clips[0]).frame_count
    pieces = [Piece(c, 0, frames_each, has_audio=True) for c in clips]
    reel = ReelFormat(W, H, Fraction(FPS), encode=PROFILE)
    ours: list[Timing] = []
    encoded: list[Timing] = []
    copied: list[Timing] = []
    for _ in range(runs):
        ours.append(time_call(lambda: assemble(pieces, work / "cuts.mp4", reel)))
        encoded.append(time_call(lambda: bare_concat(clips, work / "bare-cuts.mp4")))
        copied.append(time_call(lambda: bare_copy(clips, work / "bare-copy.mp4")))
    made = assemble(pieces, work / "cuts.mp4", reel)
    frames = probe(made.path).frame_count
    assert made.copied and frames == made.frames == len(clips) * frames_each
    print(f"\n{len(clips)} whole clips of {frames_each} frames at {W}x{H}, cuts: {frames} frames")
    print(HEADER)
    print(row("reel_assembly.assemble (measure + picture copied)", ours, frames, encoded))
    print(row("one ffmpeg command (concat filter, one encode)", encoded, frames, encoded))
    print(row("one ffmpeg command (concat demuxer, copy)", copied, frames, encoded))
    ratio = median(ours).wall_s / median(copied).wall_s
    print(f"\nassemble against the copying command (median): {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--case", choices=("both", "crossfade", "cuts"), default="both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-reel-"))
    clips = make_clips(work, args.seconds)
    if args.case != "crossfade":
        cuts(clips, work, args.runs)
    if args.case == "cuts":
        return
    length = round(args.seconds * FPS)
    pieces = [Piece(c, 15, 15 + length, has_audio=True) for c in clips]
    reel = ReelFormat(W, H, Fraction(FPS), crossfade_s=0.5, encode=PROFILE)
    fade = reel.crossfade_frames()
    ours: list[Timing] = []
    limit: list[Timing] = []
    made = None
    for _ in range(args.runs):
        timing = time_call(lambda: assemble(pieces, work / "reel.mp4", reel))
        ours.append(timing)
        limit.append(time_call(lambda: bare(clips, pieces, fade, work / "bare.mp4")))
    made = assemble(pieces, work / "reel.mp4", reel)
    frames = made.frames
    print(
        f"{len(pieces)} pieces of {args.seconds:g} s at {W}x{H}, 0.5 s crossfades: {frames} frames"
    )
    print(HEADER)
    print(row("reel_assembly.assemble (measure + one encode)", ours, frames, limit))
    print(row("one ffmpeg command (xfade, one-pass loudnorm)", limit, frames, limit))
    level = measure(work / "reel.mp4")
    print(
        f"\nthe reel: {level.integrated:.1f} LUFS integrated, true peak {level.true_peak:.1f} dBTP"
    )


if __name__ == "__main__":
    main()

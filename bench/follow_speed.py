"""The clicked player's follow against the decode of its clip, as installed and at 1080p.

The real clips annotated in ``bench/data`` are small (176 to 768 px wide): they
decode at well under a millisecond a frame, so any per-frame work shows as a
large ratio. A sports clip is 1080p, where the decode itself costs several
milliseconds a frame. Each clip is therefore also scaled to ``--height`` (1080)
with ffmpeg (x264, CRF 18, cached in the temporary directory) to the size its
ground truth is scaled to, and both are followed as a job follows a click
(:func:`bench.follow_run.follow_click`: the detect pass with the look followed in
it, the overlay's pick, framing's path).

Timing: a decode of every frame through the product's reader and the follow are
run one after the other, ``--runs`` times (the machine is shared: absolute
times drift, a ratio of neighbours less), and the ratio of each pair is
reported as its median and best. The quality columns are those of
:mod:`bench.follow_real`, from the last run.

``--stride 1,2,3,4`` follows each clip detecting every n-th frame (the manifest's
``detect.stride``; the motion backend's default is 1) and adds the CPU ratio (the
process's user + system time, which others' work on a shared machine inflates less
than the wall's): what detecting less often buys, and what it costs the follow.

Usage (from the repository root)::

    python -m bench.follow_speed [--height 1080] [--runs 3] [--clip bikes] [--stride 1,3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.follow_real import ClipResult, score_follow
from bench.follow_run import decode_seconds, follow_click
from bench.follow_truth import Click, Mark, Truth, load_truth, truth_files
from pipeline.core.usage import cpu_seconds as process_cpu
from pipeline.manifests.job import Highlight
from pipeline.media.codec import even
from pipeline.media.probe import probe


def scaled_width(truth: Truth, height: int) -> int:
    """The width, in proportion and even, of ``truth``'s clip scaled to ``height`` rows."""
    return even(round(truth.width * height / truth.height))


def scaled_clip(source: Path, width: int, height: int, name: str) -> Path:
    """``source`` scaled to ``width`` x ``height`` (the size its truth is scaled to), made once."""
    folder = Path(tempfile.gettempdir()) / "reelpipe-follow-scaled"
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}-{width}x{height}.mp4"
    if not target.exists():
        partial = target.with_suffix(".part.mp4")
        scale = ["-vf", f"scale={width}:{height}:flags=bicubic", "-an"]
        encode = ["-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p"]
        command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *scale, *encode]
        subprocess.run([*command, str(partial)], check=True)
        partial.rename(target)
    return target


def scaled_truth(truth: Truth, height: int) -> Truth:
    """``truth`` for its clip scaled to ``height`` rows: boxes, click and size scaled."""
    width = scaled_width(truth, height)
    fx, fy = width / truth.width, height / truth.height
    marks = [
        Mark(
            frame=m.frame,
            state=m.state,
            box=None
            if m.box is None
            else (m.box[0] * fx, m.box[1] * fy, m.box[2] * fx, m.box[3] * fy),
        )
        for m in truth.marks
    ]
    click = Click(frame=truth.click.frame, x=truth.click.x * fx, y=truth.click.y * fy)
    return truth.model_copy(
        update={"width": width, "height": height, "click": click, "marks": marks}
    )


def timed(
    name: str, truth: Truth, clip: Path, runs: int, stride: int | None = None
) -> tuple[ClipResult, list[float], list[float]]:
    """``runs`` decode-then-follow pairs: the last follow scored, and each pair's ratio of
    wall time and of CPU time."""
    click = Highlight(frame=truth.click.frame, x=truth.click.x, y=truth.click.y)
    info = probe(clip)  # outside both timings, as the wall clocks leave it out
    ratios, cpu_ratios, decodes = [], [], []
    for _ in range(runs):
        began = process_cpu()
        decode = decode_seconds(clip, repeat=1, info=info)
        decoded = process_cpu()
        run = follow_click(clip, click, stride=stride, info=info)
        ratios.append(sum(run.seconds.values()) / decode)
        cpu_ratios.append((process_cpu() - decoded) / max(1e-9, decoded - began))
        decodes.append(decode)
    score = score_follow(truth, run.strength, run.centres, run.window_x, run.window_w, run.doc)
    return ClipResult(name, score, run, statistics.median(decodes)), ratios, cpu_ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clip", action="append", help="only this ground truth (a file stem)")
    parser.add_argument("--stride", help="detect every n-th frame: a list, e.g. 1,2,3")
    args = parser.parse_args()
    strides: list[int | None] = [None]
    if args.stride:
        strides = [int(n) for n in args.stride.split(",")]
    print(
        "| clip: person | size | stride | on person | false light | lit after a cut | in 9:16 "
        "| ID switches | decode ms/frame (median) | follow / decode: median | best "
        "| CPU follow / decode: median |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for path in truth_files():
        name = path.stem
        if args.clip and name not in args.clip:
            continue
        truth = load_truth(path)
        source = truth.source.locate()
        if source is None:
            print(f"| {name} | skipped: install {truth.source.package()} |" + " |" * 10)
            continue
        big = scaled_truth(truth, args.height)
        for size, t, clip in (
            (f"{truth.width}x{truth.height}", truth, source),
            (
                f"{big.width}x{big.height}",
                big,
                scaled_clip(source, big.width, big.height, truth.clip),
            ),
        ):
            for stride in strides:
                result, ratios, cpu = timed(name, t, clip, args.runs, stride)
                s = result.score
                per_frame = 1000 * result.decode_s / t.frame_count
                light = "refused" if result.run.refused else f"{s.on_person:.0%}"
                print(
                    f"| {name} | {size} | {stride or 'default'} | {light} "
                    f"| {s.false_light} ({s.false_share:.1%}) | {s.after_cut} "
                    f"| {s.in_window:.0%} | {s.id_switches} | {per_frame:.2f} "
                    f"| {statistics.median(ratios):.2f}x | {min(ratios):.2f}x "
                    f"| {statistics.median(cpu):.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

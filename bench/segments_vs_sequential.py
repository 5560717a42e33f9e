"""Parallel segments vs one sequential overlay, 1080p30 60 s, side by side.

(a) the overlay stage run whole by the local runner (x264 frame threads on every core),
(b) the same stage split in two frame-exact parts run by 2 local worker processes,
    then joined without re-encoding (the parts' wall time and the join reported apart),
(c) a bare ffmpeg re-encode of the clip with the same x264 settings (the limit).

Then the planner's estimates for the same frames, next to the measured figures.
Runs are interleaved; best and median of N. Usage (from the repository root):
    python -m bench.segments_vs_sequential [--runs 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

from bench.measure import HEADER, Timing, best, median, row, time_call
from bench.overlay_vs_ffmpeg import PROFILE, bare_ffmpeg
from pipeline.core.keys import DEFAULT_LAYOUT
from pipeline.core.settings import Settings
from pipeline.jobs.cost_model import estimate, split_frames
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.status import StatusManifest
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, Segment, StageRequest
from pipeline.status.transitions import with_stage
from pipeline.storage.connection import connect

USER, JOB = "bench", "1" * 20


def run_parts(runner: LocalRunner, parts: list[Call]) -> list[str]:
    """Run the parts; the keys of the videos they wrote."""
    return [r.outputs["video"] for rs in runner.map(parts, lambda f: None) for r in rs]


def join_of(request: StageRequest, keys: list[str]) -> Call:
    """The join call of the parts ``keys``: the parts joined and the audio muxed, no poster
    or preview cut (what this bench has always timed as the join)."""
    return Call.of(dataclasses.replace(request, final=False)).joining(keys, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=args.seconds)
    info = probe(src)
    params = OverlayParams.model_validate({"highlight": {"boxes": truth.keyframes(0, every=10)}})
    settings = Settings.from_env(
        {}, scratch_dir=work / "scratch", final_encode=PROFILE, progress_interval_s=1.0
    )
    ranges = split_frames(info.frame_count, args.workers)
    segments = [Segment(i, len(ranges), a, b) for i, (a, b) in enumerate(ranges)]
    timings: dict[str, list[Timing]] = {k: [] for k in ("a", "b", "parts", "join", "c")}
    with connect(settings) as conn:
        bucket = conn.bucket
        bucket.upload_file(src, f"users/{USER}/clips/game.mp4")
        status = StatusManifest(job_id=JOB, user_id=USER, manifest_key="-")
        bucket.put_json(
            DEFAULT_LAYOUT.status_key(USER, JOB),
            with_stage(status, StageName.OVERLAY).model_dump(mode="json"),
        )
        request = StageRequest(
            user_id=USER,
            job_id=JOB,
            stage=StageName.OVERLAY,
            video_key=f"users/{USER}/clips/game.mp4",
            params=params,
            final=True,
        )
        whole = LocalRunner(bucket, conn.settings)
        pool_settings = conn.settings.replace(local_workers=args.workers)
        pool = LocalRunner(bucket, pool_settings)
        parts = Call.of(request).split(segments)
        for _ in range(args.runs):
            timings["a"].append(time_call(lambda: whole.run(Call.of(request), lambda f: None)))
            keys: list[str] = []
            ran = time_call(lambda: keys.extend(run_parts(pool, parts)))  # noqa: B023
            joined = time_call(lambda: pool.run(join_of(request, keys), lambda f: None))  # noqa: B023
            timings["parts"].append(ran)
            timings["join"].append(joined)
            timings["b"].append(Timing(ran.wall_s + joined.wall_s, ran.cpu_s + joined.cpu_s))
            timings["c"].append(time_call(lambda: bare_ffmpeg(src, work / "c.mp4")))
    labels = {
        "a": "(a) overlay, whole, local runner",
        "b": f"(b) overlay, {args.workers} segments in {args.workers} processes + join",
        "parts": f"    (b) of which: the {args.workers} parts in parallel",
        "join": "    (b) of which: download parts + join (concat, audio mux) + upload",
        "c": "(c) bare ffmpeg re-encode (the limit)",
    }
    print(
        f"clip: 1920x1080 {truth.fps} fps {args.seconds:g} s, {info.frame_count} frames, "
        f"x264 {PROFILE.preset} crf {PROFILE.crf}, {os.cpu_count()} cores, "
        f"best and median of {args.runs} interleaved runs"
    )
    print(HEADER)
    for key, label in labels.items():
        print(row(label, timings[key], info.frame_count, timings["c"]))
    a, b = timings["a"], timings["b"]
    print(
        f"\nspeed-up of segments over whole: {best(a).wall_s / best(b).wall_s:.2f}x best, "
        f"{median(a).wall_s / median(b).wall_s:.2f}x median"
    )
    print("\n| planner (machine, workers) | est wall s | est cost $ | measured wall s (best) |")
    print("| --- | --- | --- | --- |")
    cpu = settings.costs.compute["cpu"]
    for machine, workers, measured in (
        ("cpu", 1, best(a).wall_s),
        ("cpu", args.workers, best(b).wall_s),
        ("T4", 1, None),
        ("T4", args.workers, None),
    ):
        profile = cpu if machine == "cpu" else settings.costs.compute[machine]
        e = estimate(info.frame_count, workers, profile, "overlay")
        shown = f"{measured:.2f}" if measured is not None else "(no GPU here)"
        print(f"| {machine}, {workers} | {e.wall_s:.1f} | {e.cost_usd:.4f} | {shown} |")


if __name__ == "__main__":
    main()

"""What the fault hardening costs, side by side with the limit on one 1080p30 clip.

Job path (overlay only, x264 fast CRF 23):
  (a) a whole job through a worker: lease at a new epoch, lease keeper with stall
      limit, fenced status writes, a stop check and a heartbeat at every frame;
  (b) the overlay stage alone through the local runner (no lease, no status);
  (c) a bare ffmpeg re-encode with the same x264 settings (the limit).

Probe path (reading a clip's index in place, no download):
  (d) through the loopback relay (no signed URL on a command line, bounded reads);
  (e) ffprobe on a presigned URL (the old way: the signature visible in `ps`);
  (f) ffprobe on a local file (the limit).

Runs are interleaved and the best and the median of N are reported.
Usage (from the repository root): python -m bench.hardened_job [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from bench.measure import HEADER, Timing, best, median, row, run, time_call
from pipeline.client.submit import submit_manifest
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.jobs.claim import ClaimPolicy, claim
from pipeline.jobs.segments import probe_stage_input
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest
from pipeline.storage.connection import connect

PROFILE = EncodeProfile(preset="fast", crf=23)
CLIP_KEY = "users/bench/clips/game.mp4"


def bare_ffmpeg(src: Path, dst: Path) -> None:
    run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c:v", "libx264", "-preset",
         PROFILE.preset, "-crf", str(PROFILE.crf), "-pix_fmt", "yuv420p", "-c:a", "copy",
         str(dst)])  # fmt: skip


def ffprobe(target: str) -> None:
    cmd = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", target]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=args.seconds)
    info = probe(src)
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    settings = Settings.from_env({}, scratch_dir=work / "scratch", final_encode=PROFILE)
    jobs: dict[str, list[Timing]] = {k: [] for k in "abc"}
    probes: dict[str, list[Timing]] = {k: [] for k in "def"}
    with connect(settings) as conn:
        bucket = conn.bucket
        bucket.upload_file(src, CLIP_KEY)
        runner = LocalRunner(bucket, conn.settings)
        worker = Worker(bucket, conn.settings, runner)
        request = StageRequest(
            user_id="bench",
            job_id="0" * 20,
            stage=StageName.OVERLAY,
            video_key=CLIP_KEY,
            params=OverlayParams.model_validate(overlay),
            final=True,
        )

        def whole_job(n: int) -> None:
            manifest = {"input_key": "clips/game.mp4", "stages": {"overlay": overlay}}
            inbox = submit_manifest(bucket, "bench", manifest, request_id=f"run-{n}").inbox_key
            job = claim(bucket, inbox, ClaimPolicy.from_settings(conn.settings, worker.owner))
            assert job is not None
            final = worker.run(job)
            assert final is not None and final.state.value == "succeeded", final

        for n in range(args.runs):
            jobs["a"].append(time_call(lambda n=n: whole_job(n)))  # type: ignore[misc]
            jobs["b"].append(time_call(lambda: runner.run(Call.of(request), lambda f: None)))
            jobs["c"].append(time_call(lambda: bare_ffmpeg(src, work / "c.mp4")))
        for _ in range(max(5, args.runs)):
            url = bucket.presigned_get(CLIP_KEY, 300)
            probes["d"].append(time_call(lambda: probe_stage_input(bucket, CLIP_KEY, settings)))
            probes["e"].append(time_call(lambda url=url: ffprobe(url)))  # type: ignore[misc]
            probes["f"].append(time_call(lambda: ffprobe(str(src))))
    print(
        f"clip: 1920x1080 {truth.fps} fps {args.seconds:g} s, {info.frame_count} frames, "
        f"{src.stat().st_size / 1e6:.1f} MB, x264 {PROFILE.preset} crf {PROFILE.crf}, "
        f"{os.cpu_count()} cores, best and median of {args.runs} interleaved runs"
    )
    print(HEADER)
    labels = {
        "a": "(a) whole job via a worker: lease, keeper, fenced writes, stop checks",
        "b": "(b) overlay stage alone via the local runner",
        "c": "(c) bare ffmpeg re-encode, same x264 settings (the limit)",
    }
    for key, label in labels.items():
        print(row(label, jobs[key], info.frame_count, jobs["c"]))
    print()
    print("| probe | best ms | median ms | x limit (best) |\n| --- | --- | --- | --- |")
    limit = best(probes["f"]).wall_s
    names = {
        "d": "(d) loopback relay (no signed URL on a command line)",
        "e": "(e) ffprobe on a presigned URL (signature visible in ps)",
        "f": "(f) ffprobe on a local file (the limit)",
    }
    for key, label in names.items():
        b, m = best(probes[key]).wall_s, median(probes[key]).wall_s
        print(f"| {label} | {1000 * b:.0f} | {1000 * m:.0f} | {b / limit:.2f}x |")


if __name__ == "__main__":
    main()

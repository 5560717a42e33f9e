"""A reel from the inbox end to end (its clips' jobs on two workers, then its assembly
call), against bare ffmpeg doing the same work with the same two cores.

Three generated 1080p30 clips with sound (``bench.reel_assembly``'s: quiet, loud, in
between), a moment of ``--seconds`` of each, crossfaded 0.5 s, each clip re-encoded
by its own job (``{"framing": {}}``, what a reel does with a clip that names no stage):

(a) reelpipe: the reel manifest in the inbox of the embedded store, a scan every
    0.2 s dispatching to a worker with two threads (``serve --workers 2``); the reel
    submits its clips' jobs, waits for them, then its assembly call runs;
(b) the limit: the three re-encodes by ffmpeg, two at once, then one ffmpeg command
    with the same trims, ``xfade``/``acrossfade`` and encode (``bench.reel_assembly``'s
    one-command reel).

Reported per repetition and as medians: the reel's wall time (upload of the manifest
to its status ``succeeded``), its slowest clip's job, the assembly's line
(``steps.assembly``), and the reel's wall against (b). On Modal the clips' calls run
at once and the reel's wall is the slowest clip plus the assembly; here two cores
bound it, and the table says how far the reel is from that sum.

Usage (from the repository root):
python -m bench.reel_inbox [--runs 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.embedded_bench import ready_bucket, store_settings
from bench.measure import run
from bench.reel_assembly import FPS, PROFILE, bare, make_clips
from pipeline.client.app_client import ReelpipeClient
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.codec import ffmpeg_video_args
from pipeline.media.reel_assembly import Piece
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

KEYS = KeyPair("bench-access-key", "bench-secret-key")
USER = "bench"
WORKERS = 2
START_S = 0.5  # each moment starts here


@dataclass(frozen=True)
class ReelRun:
    """One reel made by reelpipe: its wall time and its status's own figures."""

    wall_s: float
    slowest_clip_s: float
    clips_s: float  # the clips' jobs' durations added up
    assembly_s: float


def reelpipe_reel(
    bucket: Bucket, settings: Settings, keys: list[str], seconds: float, n: int
) -> ReelRun:
    clips = [
        {"input_key": k, "moments": [{"start_s": START_S, "end_s": START_S + seconds}]}
        for k in keys
    ]
    transition = {"kind": "crossfade", "duration_s": 0.5}
    manifest = {"schema_version": 1, "reel": {"clips": clips, "transition": transition}}
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    client = ReelpipeClient(bucket, USER)
    request = f"reel-{n}"
    with ThreadPoolExecutor(WORKERS) as pool:
        running: dict[str, Future[object]] = {}

        def dispatch(job: ClaimedJob) -> None:
            if job.job_id in running and not running[job.job_id].done():
                return
            running[job.job_id] = pool.submit(worker.run, job)

        scanner = Scanner(bucket, settings, dispatch=dispatch)
        began = time.perf_counter()
        submit_manifest(bucket, USER, manifest, request_id=request)
        status: StatusManifest | None = None
        while status is None or not status.state.finished:
            scanner.scan_once()
            time.sleep(0.2)
            status = client.status_for_request(request)
        wall = time.perf_counter() - began
    worker.close()
    assert status.state is JobState.SUCCEEDED, status.error
    children = [client.status_for_request(f"{status.job_id}-clip{i}") for i in range(len(keys))]
    durations = [c.duration_s or 0.0 for c in children if c is not None]
    return ReelRun(wall, max(durations), sum(durations), status.steps["assembly"].duration_s)


def bare_reel(clips: list[Path], work: Path, seconds: float) -> float:
    """(b): the re-encodes two at once, then the one-command reel; its wall time."""
    began = time.perf_counter()
    encoded = [work / f"encoded-{i}.mp4" for i in range(len(clips))]

    def reencode(i: int) -> None:
        run(["ffmpeg", "-v", "error", "-y", "-i", str(clips[i]), *ffmpeg_video_args(PROFILE),
             "-c:a", "aac", "-b:a", "192k", str(encoded[i])])  # fmt: skip

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(reencode, range(len(clips))))
    start, length = round(START_S * FPS), round(seconds * FPS)
    pieces = [Piece(c, start, start + length, has_audio=True) for c in encoded]
    bare(encoded, pieces, round(0.5 * FPS), work / "bare-reel.mp4")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    print("load average before:", " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-reel-inbox-"))
    clips = make_clips(work, args.seconds)
    with EmbeddedS3(keys=KEYS) as server:
        settings = store_settings(
            server,
            KEYS,
            scratch_dir=work / "scratch",
            final_encode=EncodeProfile(preset=PROFILE.preset, crf=PROFILE.crf),
            scan_period_s=0.2,
        )
        bucket = ready_bucket(settings)
        ours: list[ReelRun] = []
        limit: list[float] = []
        for n in range(args.runs):
            keys = [upload_clip(bucket, USER, c) for c in clips]  # new versions: no reuse
            ours.append(reelpipe_reel(bucket, settings, keys, args.seconds, n))
            limit.append(bare_reel(clips, work, args.seconds))
            r = ours[-1]
            print(
                f"run {n}: reel {r.wall_s:.2f} s (slowest clip {r.slowest_clip_s:.2f}, clips "
                f"{r.clips_s:.2f} together, assembly {r.assembly_s:.2f}); bare {limit[-1]:.2f} s",
                flush=True,
            )
    med = {f: statistics.median(getattr(r, f) for r in ours) for f in ReelRun.__dataclass_fields__}
    bare_s = statistics.median(limit)
    print(f"\n3 clips, {args.seconds:g} s of each, 0.5 s crossfades, {WORKERS} workers, medians:")
    print("| what | seconds |\n| --- | --- |")
    print(f"| the reel, manifest to succeeded | {med['wall_s']:.2f} |")
    print(f"| its slowest clip's job | {med['slowest_clip_s']:.2f} |")
    print(f"| its clips' jobs added up | {med['clips_s']:.2f} |")
    print(f"| its assembly call (`steps.assembly`) | {med['assembly_s']:.2f} |")
    print(f"| bare ffmpeg: re-encodes 2 at once, then one xfade command | {bare_s:.2f} |")
    floor = med["slowest_clip_s"] + med["assembly_s"]
    print(f"\nreel / bare: {med['wall_s'] / bare_s:.2f}x; reel / (slowest clip + assembly): "
          f"{med['wall_s'] / floor:.2f}x")  # fmt: skip
    print("load average after:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

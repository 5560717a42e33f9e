"""What a job is charged (``cpu_seconds``) alone and beside another, as ``serve --workers 1``
and ``--workers 2`` run them: jobs on threads of one process, with the embedded store.

The same job (a 1080p30 clip with audio, x264 fast CRF 23) runs alone, then twice at
once; each run's charge is printed with the process's own CPU over the same time, so the
two can be compared. An honest charge is about the same in both rows.

Usage (from the repository root, or from another checkout to measure its code):
python -m bench.job_cpu [--seconds 10] [--runs 2] [--job overlay|fused]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

KEYS = KeyPair("bench-access-key", "bench-secret-key")


def _process_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--job", choices=("overlay", "fused"), default="overlay")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-job-cpu-"))
    clip = work / "game-1080p.mp4"
    truth = write_sample_clip(clip, width=1920, height=1080, duration_s=args.seconds)
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    stages: dict[str, Any] = {"overlay": overlay}
    if args.job == "fused":
        stages["framing"] = {"trim": {"start_s": 0.0, "end_s": args.seconds}, "aspect": "9:16"}
    with EmbeddedS3(keys=KEYS) as server:
        settings = Settings(
            endpoint_url=server.endpoint_url,
            bucket="bench",
            access_key_id=SecretStr(KEYS.access_key_id),
            secret_access_key=SecretStr(KEYS.secret_access_key),
            scratch_dir=work / "scratch",
            final_encode=EncodeProfile(preset="fast", crf=23),
        )
        bucket = Bucket(make_s3_client(settings), settings.bucket)
        bucket.ensure_exists(settings.region)
        worker = Worker(bucket, settings, LocalRunner(bucket, settings))
        relative = upload_clip(bucket, "u", clip)
        count = 0

        def job() -> ClaimedJob:
            nonlocal count
            count += 1
            doc = {"schema_version": 1, "input_key": relative, "stages": stages}
            inbox = submit_manifest(bucket, "u", doc, request_id=f"r{count}").inbox_key
            claimed = claim(bucket, inbox)
            assert isinstance(claimed, ClaimedJob)
            return claimed

        def run(claimed: ClaimedJob) -> tuple[StatusManifest, float, float]:
            began = time.perf_counter()
            status = worker.run(claimed)
            assert status is not None and status.state is JobState.SUCCEEDED, status
            return status, began, time.perf_counter()

        print(f"job: {args.job}, 1920x1080 30 fps {args.seconds:g} s with audio")
        print("| workers | run | job cpu_seconds | process CPU s over the run | wall s | overlap |")
        print("| --- | --- | --- | --- | --- | --- |")
        for repetition in range(args.runs):
            for workers in (1, 2):
                claimed = [job() for _ in range(workers)]
                cpu0, t0 = _process_cpu(), time.perf_counter()
                with ThreadPoolExecutor(workers) as pool:
                    done = list(pool.map(run, claimed))
                wall, cpu = time.perf_counter() - t0, _process_cpu() - cpu0
                charged = ", ".join(f"{s.cpu_seconds:.2f}" for s, _, _ in done)
                # The share of the shorter job's time that the other job ran beside it.
                overlap = 1.0
                if workers == 2:
                    (_, a0, a1), (_, b0, b1) = done
                    overlap = max(0.0, min(a1, b1) - max(a0, b0)) / min(a1 - a0, b1 - b0)
                row = f"| {workers} | {repetition + 1} | {charged} | {cpu:.2f} | {wall:.2f} |"
                print(f"{row} {overlap:.0%} |")


if __name__ == "__main__":
    main()

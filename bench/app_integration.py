"""What the app-facing extras cost: the poster and preview against the job they finish,
the preview's size on a long clip, and how soon a callback arrives after a job ends.

Rows:
- a 20 s 1080p30 overlay job (x264 fast CRF 23, the embedded-style moto server), and the
  previews call alone on its output (what a job whose last call could not cut them
  runs): the step's share of the job;
- the preview of a 60 s 1080p clip: its size (the limit is 600 KB) and duration;
- callbacks on loopback: from the job's final status write to the receiver's first byte,
  over N small jobs (each one signed delivery, one attempt).

Usage (from the repository root): python -m bench.app_integration [--runs 3] [--jobs 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.measure import best, median, time_call
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.jobs.claim import claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.status import Fence
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest, StageResult
from pipeline.storage.connection import connect

PROFILE = EncodeProfile(preset="fast", crf=23)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _job(conn: Any, clip: Path, stages: dict[str, Any], tag: str, **extra: Any) -> Any:
    relative = upload_clip(conn.bucket, "bench", clip)
    doc = {"input_key": relative, "stages": stages, **extra}
    job = claim(conn.bucket, submit_manifest(conn.bucket, "bench", doc, request_id=tag).inbox_key)
    worker = local_worker(conn.bucket, conn.settings)
    try:
        return worker.run(job)
    finally:
        worker.close()


def cut_previews(
    conn: Any, job_id: str, key: str, shown: dict[str, Any], epoch: int
) -> StageResult:
    """The previews call of the stored video ``key`` (the overlay's ``shown`` choice of
    frame), run here as the orchestrator runs it locally."""
    overlay = OverlayParams.model_validate({"highlight": {"track_id": 1}})
    request = StageRequest(
        "bench", job_id, StageName.OVERLAY, key, overlay, final=True, fence=Fence("bench", epoch)
    )
    call = Call.of(request).cutting(key, shown)
    [result] = LocalRunner(conn.bucket, conn.settings).run(call, lambda fraction: None)
    return result


def previews_share(conn: Any, work: Path, seconds: float, runs: int) -> None:
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=seconds)
    overlay = {"overlay": {"highlight": {"boxes": truth.keyframes(0, every=10)}}}
    jobs, steps = [], []
    for n in range(runs):
        began = time.perf_counter()
        status = _job(conn, src, overlay, f"p{n}")
        jobs.append(time.perf_counter() - began)
        details = status.stages["overlay"].details
        shown = {k: details[k] for k in ("best_frame", "preview_window") if k in details}
        steps.append(
            time_call(
                lambda s=status, d=shown, e=1000 + n: cut_previews(
                    conn, s.job_id, s.output_key, d, e
                )
            )
        )
    poster = conn.bucket.head(status.outputs["poster"]).size
    preview = conn.bucket.head(status.outputs["preview"]).size
    b, m = min(jobs), statistics.median(jobs)
    print(f"| {seconds:.0f} s 1080p overlay job (previews included) | {b:.2f} | {m:.2f} |")
    print(
        f"| previews call alone | {best(steps).wall_s:.2f} | {median(steps).wall_s:.2f} |"
        f" -> {best(steps).wall_s / b:.1%} of the job (best), "
        f"{median(steps).wall_s / m:.1%} (median); poster {poster / 1024:.0f} KB, "
        f"preview {preview / 1024:.0f} KB"
    )


def long_preview(conn: Any, work: Path) -> None:
    src = work / "long-1080p.mp4"
    write_sample_clip(src, width=1920, height=1080, duration_s=60.0, audio=True)
    key = "users/bench/clips/long.mp4"
    conn.bucket.upload_file(src, key)
    began = time.perf_counter()
    made = cut_previews(conn, "f" * 20, key, {}, 1)
    seconds = time.perf_counter() - began
    local = work / "long-preview.mp4"
    conn.bucket.download_file(made.previews["preview"], local)
    info = probe(local)
    size = local.stat().st_size
    print(
        f"| preview of a 60 s 1080p clip | {size / 1024:.0f} KB (limit 600) | "
        f"{info.width}x{info.height}, {info.duration_s:.2f} s, {seconds:.2f} s to make |"
    )


def callback_latency(conn: Any, work: Path, jobs: int) -> None:
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrivals.append(time.time())
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    clip = work / "small.mp4"
    write_sample_clip(clip, width=320, height=180, duration_s=1.0)
    latencies = []
    for n in range(jobs):
        arrivals.clear()
        status = _job(
            conn, clip, {"overlay": {"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}},
            f"cb{n}", notify={"url": url},
        )  # fmt: skip
        deadline = time.time() + 10
        while not arrivals and time.time() < deadline:
            time.sleep(0.001)
        ended = status.finished_at.astimezone(UTC).timestamp()
        latencies.append((arrivals[0] - ended) * 1000)
    server.shutdown()
    print(
        f"| callback on loopback, job end -> receiver ({jobs} jobs) | median "
        f"{statistics.median(latencies):.1f} ms | max {max(latencies):.1f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    settings = Settings.from_env(
        {},
        scratch_dir=work / "scratch",
        final_encode=PROFILE,
        callback_secret=SecretStr(SECRET),
        callback_allow_private="loopback",
    )
    print(f"# app integration, {datetime.now(UTC):%Y-%m-%d}")
    print("| what | best | median |\n| --- | --- | --- |")
    with connect(settings) as conn:
        previews_share(conn, work, args.seconds, args.runs)
        long_preview(conn, work)
        callback_latency(conn, work, args.jobs)


if __name__ == "__main__":
    main()

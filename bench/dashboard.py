"""The operator's dashboard and API: page weight, time to first render in Chromium, and
what ``GET /v1/jobs`` and ``GET /v1/summary`` cost with 10,000 past jobs in the bucket.

Runs the app ``reelpipe serve`` runs (uvicorn, loopback) on the embedded S3 server, with
10,000 finished jobs over 30 days written into the store first (statuses and their
index entries), plus one succeeded job with a poster made by the pipeline.

Usage (from the repository root): python -m bench.dashboard [--jobs 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from pipeline.core.settings import Settings
from pipeline.media.sample import write_sample_clip
from pipeline.service.webhook_app import create_app
from pipeline.storage.connection import connect

TOKEN = "bench-operator-token"  # the API answers its token only


def _seed(bucket_name: str, jobs: int, days: int) -> None:
    """Finished jobs straight into the in-process moto backend (set-up only)."""
    import json
    from datetime import UTC, datetime, timedelta

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    from pipeline.core.keys import finished_index_key

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    now = datetime.now(UTC)
    for i in range(jobs):
        job_id, ended = f"{i:020x}", now - timedelta(seconds=(days * 86_400 - 1) * i / jobs)
        status = {"job_id": job_id, "user_id": "past", "state": "succeeded",
                  "manifest_key": "-", "finished_at": ended.isoformat()}  # fmt: skip
        backend.put_object(
            bucket_name, f"users/past/jobs/{job_id}/status.json", json.dumps(status).encode()
        )
        ms = ((ended.hour * 60 + ended.minute) * 60 + ended.second) * 1000
        backend.put_object(
            bucket_name, finished_index_key(ended.strftime("%Y-%m-%d"), ms, "past", job_id), b""
        )


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    settings = Settings.from_env({}, scratch_dir=work / "scratch")
    with connect(settings) as conn:
        clip = work / "clip.mp4"
        write_sample_clip(clip, width=640, height=360, duration_s=2.0)
        _one_real_job(conn, clip)
        began = time.perf_counter()
        _seed(conn.bucket.name, args.jobs, 30)
        seeded = time.perf_counter() - began
        print(f"# dashboard bench: {args.jobs} past jobs seeded in {seeded:.1f} s")
        app = create_app("secret", lambda key: None, bucket=conn.bucket, api_token=TOKEN)
        port = _port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=base, timeout=60, headers=bearer) as http:
            weight = {
                p: len(http.get(p).content)
                for p in ("/", "/static/dashboard.js", "/static/dashboard.css")
            }
            print("| what | figure |\n| --- | --- |")
            total = sum(weight.values())
            parts = ", ".join(f"{p} {n / 1024:.1f}" for p, n in weight.items())
            print(
                f"| page weight (HTML + JS + CSS, uncompressed) | {total / 1024:.1f} KB ({parts}) |"
            )
            for path in ("/v1/jobs?limit=50", "/v1/jobs?unfinished=true", "/v1/summary"):
                times, requests = [], 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    doc: Any = http.get(path).json()
                    times.append(time.perf_counter() - t0)
                    requests = doc["requests"]
                    time.sleep(5.1 if path == "/v1/summary" else 0)  # past the summary's cache
                best, middle = min(times) * 1000, statistics.median(times) * 1000
                print(
                    f"| GET {path}, {args.jobs} past jobs | {requests} S3 requests, "
                    f"{best:.0f} ms best, {middle:.0f} ms median |"
                )
        _first_render(base)
        server.should_exit = True


def _one_real_job(conn: Any, clip: Path) -> None:
    from pipeline.client.app_client import ReelpipeClient
    from pipeline.jobs.claim import claim
    from pipeline.jobs.compose import local_worker

    job = ReelpipeClient(conn.bucket, "coach").submit(
        clip, {"stages": {"overlay": {"highlight": {"boxes": [[0, 300, 150, 40, 80]]}}}}
    )
    claimed = claim(conn.bucket, job.inbox_key)
    worker = local_worker(conn.bucket, conn.settings)
    worker.run(claimed)
    worker.close()


def _first_render(base: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("| first render | (no Chromium installed) |")
        return
    from playwright.sync_api import sync_playwright

    paints, cards = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(3):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            t0 = time.perf_counter()
            page.goto(f"{base}/#token={TOKEN}")  # as serve's printed link
            page.wait_for_selector("article.job")
            cards.append(time.perf_counter() - t0)
            fcp = page.evaluate(
                "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
            )
            paints.append(fcp or 0.0)
            page.close()
        browser.close()
    print(
        f"| first contentful paint (loopback, Chromium) | {min(paints):.0f} ms best, "
        f"{statistics.median(paints):.0f} ms median |"
    )
    print(
        f"| navigation to the first job card drawn | {min(cards) * 1000:.0f} ms best, "
        f"{statistics.median(cards) * 1000:.0f} ms median |"
    )


if __name__ == "__main__":
    main()

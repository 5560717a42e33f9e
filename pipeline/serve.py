"""``reelpipe serve``: the whole system in one process.

An S3 endpoint (embedded moto, or the configured bucket), the scan loop, the
webhook and local workers. Jobs are claimed by the scan or the webhook and
run by a pool of worker threads (the heavy lifting happens in ffmpeg/x264
threads, which do not hold the GIL). Stopping (Ctrl-C, SIGTERM) stops new
claims; running jobs hand their lease back at the next stage boundary and
resume on the next start, their finished stages reused.
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

from pipeline.claim import ClaimedJob
from pipeline.connection import Connection
from pipeline.runners.local import LocalRunner
from pipeline.scan import Scanner
from pipeline.worker import Worker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Where and how ``serve`` listens."""

    host: str = "127.0.0.1"
    webhook_port: int = 9001
    workers: int = 1


class WorkerPool:
    """Runs dispatched jobs on N threads, never the same job twice at once."""

    def __init__(self, worker: Worker, size: int) -> None:
        self.worker = worker
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="worker")
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def dispatch(self, job: ClaimedJob) -> None:
        """Queue ``job`` unless it is already queued or running here."""
        with self._lock:
            if job.job_id in self._inflight:
                return
            self._inflight.add(job.job_id)
        future = self._executor.submit(self.worker.run, job)
        future.add_done_callback(lambda f: self._done(job.job_id, f))

    def _done(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            self._inflight.discard(job_id)
        if future.exception() is not None:
            log.error("worker_crashed", job_id=job_id, error=str(future.exception()))

    def shutdown(self) -> None:
        """Wait for running jobs (they stop at the next stage boundary once told to)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def serve(
    conn: Connection,
    options: ServeOptions,
    stop: threading.Event,
    out: TextIO,
) -> None:
    """Serve until ``stop`` is set."""
    import uvicorn

    from pipeline.webhook_app import create_app

    settings = conn.settings
    webhook_secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret
        else secrets.token_urlsafe(24)
    )
    worker = Worker(conn.bucket, settings, LocalRunner(conn.bucket, settings), stop=stop)
    pool = WorkerPool(worker, options.workers)
    scanner = Scanner(conn.bucket, settings, pool.dispatch, owner=worker.owner)
    app = create_app(webhook_secret, scanner.claim_key)
    server = uvicorn.Server(
        uvicorn.Config(app, host=options.host, port=options.webhook_port, log_level="warning")
    )
    web = threading.Thread(target=server.run, name="webhook", daemon=True)
    web.start()
    _announce(conn, options, webhook_secret, out)
    try:
        while not stop.is_set():
            try:
                scanner.scan_once()
            except Exception as exc:  # noqa: BLE001 - the watcher keeps running
                log.error("scan_failed", error=str(exc))
            stop.wait(settings.scan_period_s)
    finally:
        log.info("stopping", workers=options.workers)
        server.should_exit = True
        pool.shutdown()
        web.join(timeout=10)


def _announce(conn: Connection, options: ServeOptions, webhook_secret: str, out: TextIO) -> None:
    s = conn.settings
    lines = [
        f"S3 endpoint:  {s.endpoint_url}",
        f"bucket:       {s.bucket}",
    ]
    if conn.embedded:
        # Local-only credentials of the embedded server: printing them is the point.
        key = s.access_key_id.get_secret_value() if s.access_key_id else ""
        secret = s.secret_access_key.get_secret_value() if s.secret_access_key else ""
        lines += [f"access key:   {key}", f"secret key:   {secret}", f"region:       {s.region}"]
        lines.append(f"webhook:      http://{options.host}:{options.webhook_port}/events")
        lines.append(f"webhook key:  {webhook_secret}")
    else:
        lines.append(f"webhook:      http://{options.host}:{options.webhook_port}/events")
    lines.append(f"workers:      {options.workers}, scan every {s.scan_period_s:g} s")
    out.write("\n".join(lines) + "\n")
    out.flush()

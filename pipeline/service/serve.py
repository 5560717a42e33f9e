"""``reelpipe serve``: the whole system in one process.

An S3 endpoint (embedded moto, kept in a data directory, or the configured
bucket), the scan loop, the webhook and local workers. Jobs are claimed by the
scan or the webhook and run by a pool of worker threads (the heavy lifting
happens in ffmpeg/x264 threads, which do not hold the GIL). Stopping (Ctrl-C,
SIGTERM) stops new claims; running jobs stop at the next frame boundary and
hand their lease back, and resume on the next start, their finished stages
reused.

The webhook's port is bound first, before the embedded store starts or
anything is announced: a port another process holds stops ``serve`` with an
error instead of advertising that process's URL or half-starting.

The operator's API always needs a token: with no ``REELPIPE_API_TOKEN`` one is generated
(kept, like a generated webhook secret, in the data directory) and printed once, in the
dashboard's link (``/#token=...``). The app answers only ``Host`` values naming the bound
address (and ``REELPIPE_ALLOWED_HOSTS``), and callbacks never go to serve's own ports.
"""

from __future__ import annotations

import gc
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import structlog

from pipeline.core.kept_secrets import API_TOKEN_FILE, WEBHOOK_SECRET_FILE, kept_secret
from pipeline.core.listening import listen_on
from pipeline.core.logs import mask_secrets
from pipeline.core.waiting import wait_for_event
from pipeline.jobs.claim import ClaimedJob
from pipeline.jobs.compose import local_worker
from pipeline.jobs.scan import Scanner
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import StatusManifest
from pipeline.storage.connection import Connection

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Where and how ``serve`` listens."""

    host: str = "127.0.0.1"
    webhook_port: int = 9001
    workers: int = 1
    data_dir: Path | None = None  # where the embedded store (and a generated secret) live


class WorkerPool:
    """Runs dispatched jobs on N threads, never the same job twice at once."""

    def __init__(self, worker: Worker, size: int) -> None:
        self.worker = worker
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="worker")
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def dispatch(self, job: ClaimedJob) -> Future[StatusManifest | None] | None:
        """Queue ``job`` unless it is already queued or running here; its run's future
        (None when it was already here)."""
        with self._lock:
            if job.job_id in self._inflight:
                return None
            self._inflight.add(job.job_id)
        future = self._executor.submit(self.worker.run, job)
        future.add_done_callback(lambda f: self._done(job.job_id, f))
        return future

    def _done(self, job_id: str, future: Future[Any]) -> None:
        with self._lock:
            self._inflight.discard(job_id)
        if future.exception() is not None:
            log.error("worker_crashed", job_id=job_id, error=str(future.exception()))

    def shutdown(self) -> None:
        """Wait for running jobs (they stop at the next frame once told to, and hand back)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def serve(
    conn: Connection,
    options: ServeOptions,
    listener: socket.socket,
    stop: threading.Event,
    out: TextIO,
) -> None:
    """Serve until ``stop`` is set; the webhook answers on ``listener`` (see
    :func:`bind_listener`), closed on the way out."""
    import uvicorn

    from pipeline.service.request_origin import ServedHosts
    from pipeline.service.webhook_app import create_app

    settings = conn.settings
    kept = options.data_dir if conn.embedded else None
    if settings.security.webhook_secret:
        webhook_secret, generated = settings.security.webhook_secret.get_secret_value(), False
    else:
        webhook_secret, generated = kept_secret(kept, WEBHOOK_SECRET_FILE), True
    if settings.security.api_token:
        api_token, token_generated = settings.security.api_token.get_secret_value(), False
    else:
        api_token, token_generated = kept_secret(kept, API_TOKEN_FILE), True
    # Generated ones are not in the settings the logging was set up with.
    s3_secret = (
        settings.storage.secret_access_key.get_secret_value()
        if settings.storage.secret_access_key
        else ""
    )
    mask_secrets(webhook_secret, api_token, s3_secret)
    worker = local_worker(
        conn.bucket, settings, stop=stop, callback_refused_ports=own_ports(conn, options)
    )
    pool = WorkerPool(worker, options.workers)
    scanner = Scanner(
        conn.bucket,
        settings,
        pool.dispatch,
        owner=worker.owner,
        claim_concurrency=settings.leases.claim_concurrency,
    )
    app = create_app(
        webhook_secret,
        scanner.claim_key,
        max_body_bytes=settings.security.webhook_max_body_bytes,
        claim_queue=settings.security.webhook_claim_queue,
        bucket=conn.bucket,
        api_token=api_token,
        served_hosts=ServedHosts.bound(
            options.host, options.webhook_port, settings.security.allowed_hosts
        ),
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    web = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="webhook", daemon=True
    )
    web.start()
    _announce(
        conn,
        options,
        webhook_secret if generated or conn.embedded else None,
        api_token if token_generated else None,
        out,
    )
    # What starting built (the imports, the store, the app) stays for good: a full
    # collection then walks only what jobs made, not a pause of 0.1 s on every thread.
    gc.collect()
    gc.freeze()
    try:
        while not stop.is_set():
            try:
                scanner.scan_once()
            except Exception as exc:  # noqa: BLE001 - the watcher keeps running
                log.error("scan_failed", error=str(exc))
            wait_for_event(stop, settings.leases.scan_period_s)
    finally:
        try:
            log.info("stopping", workers=options.workers)
            server.should_exit = True
            pool.shutdown()
            worker.close()
            app.state.claims.shutdown()
            web.join(timeout=10)
            listener.close()
        finally:
            gc.unfreeze()  # a caller that goes on (a test) collects it again


def bind_listener(host: str, port: int) -> socket.socket:
    """The webhook's listening socket, bound now; ConfigError when the port is taken."""
    return listen_on(host, port, what="the webhook", option="--webhook-port")


def own_ports(conn: Connection, options: ServeOptions) -> frozenset[int]:
    """The ports of serve's own servers (the webhook and API; the embedded S3 endpoint),
    which no callback may name: from there a manifest's URL would be a loopback client of
    reelpipe itself."""
    ports = {options.webhook_port}
    if conn.embedded and conn.settings.storage.endpoint_url:
        s3_port = urlsplit(conn.settings.storage.endpoint_url).port
        if s3_port is not None:
            ports.add(s3_port)
    return frozenset(ports)


def _browsable(host: str) -> str:
    """``host`` as a browser would be sent to it (every interface: loopback)."""
    if host.strip("[]") in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _announce(
    conn: Connection,
    options: ServeOptions,
    webhook_secret: str | None,
    api_token: str | None,
    out: TextIO,
) -> None:
    s = conn.settings
    lines = [
        f"S3 endpoint:  {s.storage.endpoint_url}",
        f"bucket:       {s.storage.bucket}",
    ]
    if conn.embedded:
        # Local-only credentials of the embedded server: a secret made here is printed
        # (once, as the webhook key is); a configured one stays where it was configured.
        key = s.storage.access_key_id.get_secret_value() if s.storage.access_key_id else ""
        secret = "(AWS_SECRET_ACCESS_KEY)"
        if conn.secret_generated and s.storage.secret_access_key is not None:
            secret = s.storage.secret_access_key.get_secret_value()
        lines += [
            f"access key:   {key}",
            f"secret key:   {secret}",
            f"region:       {s.storage.region}",
        ]
        store = str(options.data_dir) if options.data_dir else "in memory (lost at exit)"
        lines.append(f"data dir:     {store}")
    lines.append(f"webhook:      http://{options.host}:{options.webhook_port}/events")
    dashboard = f"http://{_browsable(options.host)}:{options.webhook_port}/"
    if api_token is not None:
        # Generated here (no REELPIPE_API_TOKEN): the link carries it, once, on stdout; the
        # page keeps it for the tab and drops it from the address bar.
        lines.append(f"dashboard:    {dashboard}#token={api_token}")
    else:
        lines.append(f"dashboard:    {dashboard} (bearer token: REELPIPE_API_TOKEN)")
    if webhook_secret is not None:
        # Generated here (no REELPIPE_WEBHOOK_SECRET): senders need it to sign.
        lines.append(f"webhook key:  {webhook_secret}")
    lines.append(f"workers:      {options.workers}, scan every {s.leases.scan_period_s:g} s")
    out.write("\n".join(lines) + "\n")
    out.flush()

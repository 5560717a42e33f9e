"""What the ``reelpipe`` commands share: settings from flags, exit codes, manifests."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.manifests.status import JobState, StatusManifest
from pipeline.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9000


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        os.environ,
        endpoint_url=getattr(args, "endpoint_url", None),
        bucket=getattr(args, "bucket", None),
        scratch_dir=getattr(args, "scratch_dir", None),
    )


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: an embedded one)")
    parser.add_argument("--bucket", help="bucket name (REELPIPE_BUCKET, default 'reelpipe')")
    parser.add_argument("--user", default="local", help="user id the job runs as")
    parser.add_argument("--scratch-dir", type=Path, help="where stages keep temporary files")
    parser.add_argument("--json-logs", action="store_true", help="JSON logs even on a terminal")


def load_manifest(path: Path | None) -> dict[str, Any] | bytes | None:
    if path is None:
        return None
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw  # submitted as is: the job fails with a clear message in its status
    return doc if isinstance(doc, dict) else raw


def exit_for(status: StatusManifest) -> int:
    if status.state is JobState.SUCCEEDED:
        return EXIT_OK
    if status.state is JobState.FAILED:
        error = status.error
        detail = f"{error.kind.value}: {error.message}" if error else "unknown error"
        print(f"error: {detail}", file=sys.stderr)
    return EXIT_JOB_FAILED


def app_settings(args: argparse.Namespace) -> Settings:
    """Settings for commands that talk to a running system (serve's defaults if none)."""
    settings = settings_from(args)
    if settings.endpoint_url is not None:
        return settings
    return settings.model_copy(
        update={
            "endpoint_url": f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
            "access_key_id": settings.access_key_id or SecretStr(EMBEDDED_ACCESS_KEY),
            "secret_access_key": settings.secret_access_key or SecretStr(EMBEDDED_SECRET_KEY),
        }
    )


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM: long-running commands stop cleanly on it."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop

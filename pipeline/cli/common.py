"""What the ``reelpipe`` commands share: settings from flags, exit codes, manifests.

Exit codes (the same for every command):

    0    success
    1    the job failed (or is waiting for its clip, or is unknown to ``status``)
    2    usage or invalid input found before any job exists
    3    the store or service is unreachable or refuses the credentials
    4    ``status --watch`` gave up: the job was still running at ``--timeout``
    129  stopped by SIGHUP (the terminal closed)
    130  interrupted (Ctrl-C)
    143  stopped by SIGTERM (``serve`` and ``scan``: 0, their normal end)
    141  the output was closed (``reelpipe status --json | head``)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline.core.errors import InvalidManifest
from pipeline.core.kept_secrets import S3_SECRET_FILE, read_kept_secret

# The settings and manifest libraries (pydantic, and numpy under the manifests) are
# imported where they are used: ``reelpipe process`` starts its embedded store's child
# before it loads them, so they load while the child starts on the other core.
if TYPE_CHECKING:
    from pipeline.core.settings import Settings
    from pipeline.manifests.status import StatusManifest

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED = 130, 141
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9000
UNREACHABLE_HINT = "start `reelpipe serve` or set REELPIPE_ENDPOINT_URL (and the credentials)"


def env_file() -> Path | None:
    """The ``.env`` file the commands read: ``$REELPIPE_ENV_FILE``, else ``./.env`` if any."""
    named = os.environ.get("REELPIPE_ENV_FILE")
    if named:
        return Path(named)
    local = Path(".env")
    return local if local.is_file() else None


def flag_overrides(args: argparse.Namespace, **more: Any) -> dict[str, Any]:
    """The settings the command line sets (flags not given are None: ignored)."""
    return {
        "endpoint_url": getattr(args, "endpoint_url", None),
        "bucket": getattr(args, "bucket", None),
        "scratch_dir": getattr(args, "scratch_dir", None),
        **more,
    }


def settings_from(args: argparse.Namespace, **more: Any) -> Settings:
    from pipeline.core.settings import Settings

    return Settings.from_env(os.environ, env_file=env_file(), **flag_overrides(args, **more))


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: an embedded one)")
    parser.add_argument("--bucket", help="bucket name (REELPIPE_BUCKET, default 'reelpipe')")
    parser.add_argument("--user", default="local", help="user id the job runs as")
    parser.add_argument("--scratch-dir", type=Path, help="where stages keep temporary files")
    parser.add_argument("--json-logs", action="store_true", help="JSON logs even on a terminal")


def clip_problem(clip: Path) -> str | None:
    """Why ``clip`` cannot be uploaded (None when it can), naming it as the user typed it:
    missing, a directory, or a device, pipe or socket (a link to ``/dev/zero`` would
    never end)."""
    if not clip.exists():
        return f"no such clip: {clip}"
    if clip.is_dir():
        return f"no such clip: {clip} is a directory (the clip is a directory, not a file)"
    if not clip.is_file():
        return f"the clip is not a regular file (a device, pipe or socket): {clip}"
    return None


def load_manifest(path: Path | None, max_bytes: int = 256 * 1024) -> dict[str, Any] | None:
    """The manifest file as a JSON object (None without ``--manifest``).

    InvalidManifest (exit 2, before any job exists) when the file is missing,
    unreadable, too large or deep, not JSON, not an object, or empty.
    """
    if path is None:
        return None
    from pipeline.manifests.bounded_json import MAX_JSON_DEPTH, JsonRefused, loads_bounded
    from pipeline.manifests.job import parse_job_manifest
    from pipeline.manifests.reel import parse_reel_manifest

    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidManifest(f"cannot read the manifest {path}: {exc.strerror or exc}") from None
    try:
        doc = loads_bounded(
            raw, max_bytes=max_bytes, max_depth=MAX_JSON_DEPTH, what=f"the manifest {path}"
        )
    except JsonRefused as exc:
        raise InvalidManifest(str(exc)) from None
    if not isinstance(doc, dict):
        raise InvalidManifest(f"the manifest {path} is not a JSON object")
    if not doc:
        raise InvalidManifest(
            f"the manifest {path} is empty: give it a 'stages' block "
            '(e.g. {"schema_version": 1, "stages": {"framing": {}}})'
        )
    # Validated now, so a wrong field is exit 2 before anything is uploaded
    # (input_key is filled in later when the manifest leaves it out).
    if "reel" in doc:
        parse_reel_manifest(doc, max_bytes=max_bytes)
    else:
        parse_job_manifest({"input_key": "clips/clip.mp4", **doc})
    return doc


def print_warnings(status: StatusManifest) -> None:
    """What the job adjusted rather than refused (a trim clamped to the clip's end), one
    ``warning:`` line each on stderr, where a user sees them after the result."""
    for warning in status.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def exit_for(status: StatusManifest) -> int:
    from pipeline.manifests.status import JobState

    if status.state is JobState.SUCCEEDED:
        return EXIT_OK
    if status.state is JobState.FAILED:
        error = status.error
        detail = f"{error.kind.value}: {error.message}" if error else "unknown error"
        print(f"error: {detail}", file=sys.stderr)
    elif status.state is JobState.CANCELLED:
        print("error: the job was cancelled", file=sys.stderr)
    elif status.state is JobState.WAITING_FOR_INPUT:
        print(f"error: the job is {status.progress.message}", file=sys.stderr)
    else:
        print(f"error: the job stopped while {status.state.value}", file=sys.stderr)
    return EXIT_JOB_FAILED


def app_settings(args: argparse.Namespace) -> Settings:
    """Settings for commands that talk to a running system: with no endpoint configured,
    a local ``serve`` at its default address, signing with the secret key it keeps in its
    data directory (readable by its own user only)."""
    from pydantic import SecretStr

    from pipeline.core.settings import EMBEDDED_ACCESS_KEY

    settings = settings_from(args)
    endpoint = settings.storage.endpoint_url or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    local = urlsplit(endpoint).hostname in ("127.0.0.1", "localhost", "::1")
    if settings.storage.secret_access_key is not None or not local:
        return settings
    kept = read_kept_secret(default_data_dir(settings), S3_SECRET_FILE) or ""
    return settings.replace(
        endpoint_url=endpoint,
        access_key_id=settings.storage.access_key_id or SecretStr(EMBEDDED_ACCESS_KEY),
        secret_access_key=SecretStr(kept),
    )


def default_data_dir(settings: Settings) -> Path:
    """Where the embedded store lives: ``REELPIPE_DATA_DIR``, else the user's data
    directory (``$XDG_DATA_HOME/reelpipe``, ``~/.local/share/reelpipe``)."""
    if settings.data_dir is not None:
        return settings.data_dir
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reelpipe"


class SignalStop(threading.Event):
    """An event set by a signal; ``signum`` says which one (the first)."""

    signum: int | None = None

    def caught(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        self.set()


def stop_on_signals() -> SignalStop:
    """An event set by Ctrl-C, SIGTERM or SIGHUP: long-running commands stop cleanly on it."""
    stop = SignalStop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop.caught)
    return stop


def stop_code(stop: SignalStop) -> int:
    """How a command that stops cleanly on signals exits: 0 after SIGTERM (a supervisor's
    stop is its normal end) or none, 130 after Ctrl-C, 128 + the signal after another."""
    if stop.signum is None or stop.signum == signal.SIGTERM:
        return EXIT_OK
    if stop.signum == signal.SIGINT:
        return EXIT_INTERRUPTED
    return 128 + stop.signum

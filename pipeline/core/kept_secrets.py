"""Secrets a local system makes for itself and keeps in its data directory.

``reelpipe serve`` needs a webhook secret, an API token and, for its embedded
store, a secret access key. Where none is configured it makes one, and keeps it
(``0600``, created once with ``O_EXCL``) in the data directory, so senders,
bookmarked dashboard links and the local commands that sign S3 requests keep
working across restarts. Without a data directory (``--in-memory``) each start
makes fresh ones, announced once.

Example::

    token = kept_secret(data_dir, API_TOKEN_FILE)
    read_kept_secret(data_dir, S3_SECRET_FILE)  # None until serve made it
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

WEBHOOK_SECRET_FILE = "webhook-secret"
API_TOKEN_FILE = "api-token"
S3_SECRET_FILE = "s3-secret-key"


def kept_secret(data_dir: Path | None, name: str) -> str:
    """The secret kept as ``name`` in ``data_dir``, made (and kept) if there is none; a
    fresh one each call without a data directory."""
    if data_dir is None:
        return secrets.token_urlsafe(24)
    kept = read_kept_secret(data_dir, name)
    if kept is not None:
        return kept
    make_private_dir(data_dir)
    secret = secrets.token_urlsafe(24)
    try:
        descriptor = os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another start made it meanwhile: use theirs
        return read_kept_secret(data_dir, name) or secret
    with os.fdopen(descriptor, "w") as fh:
        fh.write(secret + "\n")
    return secret


def make_private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700, an existing one too): what
    lies below it (secrets, the embedded store's objects) is then private whatever the
    files' own modes."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def read_kept_secret(data_dir: Path, name: str) -> str | None:
    """The secret kept as ``name`` in ``data_dir``, or None when there is none."""
    try:
        return (data_dir / name).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None

"""Open the configured bucket, starting the embedded S3 server when none is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pipeline.core.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY, Settings
from pipeline.storage.bucket import Bucket, open_bucket
from pipeline.storage.embedded import EMBEDDED_HOST, EmbeddedS3
from pipeline.storage.embedded_process import EmbeddedS3Process


@dataclass(frozen=True)
class Connection:
    """A bucket and the settings that reach it (the endpoint filled in when embedded)."""

    bucket: Bucket
    settings: Settings
    embedded: bool


@contextmanager
def connect(
    settings: Settings,
    *,
    port: int = 0,
    host: str = EMBEDDED_HOST,
    data_dir: Path | None = None,
    server: EmbeddedS3Process | None = None,
) -> Iterator[Connection]:
    """Yield a connection; with no endpoint configured, serve one for the block's duration
    (kept in ``data_dir`` across restarts when one is given, else in memory). ``server``:
    an embedded server already started in a child process, used and stopped instead."""
    if not settings.embedded:
        bucket = open_bucket(settings)
        yield Connection(bucket, settings, embedded=False)
        return
    with server or EmbeddedS3(host, port, data_dir=data_dir) as running:
        yield _embedded_connection(settings, running.endpoint_url)


def _embedded_connection(settings: Settings, endpoint_url: str) -> Connection:
    """The embedded store's connection: its endpoint and fixed local credentials."""
    local = settings.model_copy(
        update={
            "endpoint_url": endpoint_url,
            "access_key_id": settings.access_key_id or SecretStr(EMBEDDED_ACCESS_KEY),
            "secret_access_key": settings.secret_access_key or SecretStr(EMBEDDED_SECRET_KEY),
        }
    )
    bucket = open_bucket(local)
    bucket.ensure_exists(local.region)
    return Connection(bucket, local, embedded=True)

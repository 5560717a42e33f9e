"""Open the configured bucket, starting the embedded S3 server when none is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from pipeline.core.kept_secrets import S3_SECRET_FILE, kept_secret
from pipeline.core.settings import EMBEDDED_ACCESS_KEY, Settings
from pipeline.storage.bucket import Bucket, open_bucket
from pipeline.storage.embedded import EMBEDDED_HOST, EmbeddedS3
from pipeline.storage.embedded_process import EmbeddedS3Process
from pipeline.storage.sigv4 import KeyPair


@dataclass(frozen=True)
class Connection:
    """A bucket and the settings that reach it (the endpoint filled in when embedded)."""

    bucket: Bucket
    settings: Settings
    embedded: bool
    secret_generated: bool = False  # the embedded store's secret key was made here


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
    an embedded server already started in a child process, used and stopped instead.

    The store served here accepts the configured key pair; with no secret configured,
    its access key is ``reelpipe-local`` and its secret one made for it (kept in
    ``data_dir``, so the local commands find it: :func:`pipeline.core.kept_secrets`):
    ``serve`` announces it, apps and the ``aws`` CLI sign with it. A child-process
    ``server`` has its own pair, used instead."""
    if not settings.embedded:
        bucket = open_bucket(settings)
        yield Connection(bucket, settings, embedded=False)
        return
    keys = embedded_keys(settings, data_dir)
    with server or EmbeddedS3(host, port, data_dir=data_dir, keys=keys) as running:
        generated = server is None and settings.storage.secret_access_key is None
        # Likely new without a data folder (an existing one is kept: its owner's
        # CreateBucket is answered, not refused).
        empty = data_dir is None
        yield _embedded_connection(
            settings, running.endpoint_url, running.keys, generated, empty=empty
        )


def embedded_keys(settings: Settings, data_dir: Path | None = None) -> KeyPair:
    """The key pair an embedded store started for ``settings`` accepts: the configured
    one, else ``reelpipe-local`` and the secret kept in ``data_dir`` (made if there is
    none; a fresh one each start without a data directory). Never a secret anyone could
    read in the source."""
    key_id = settings.storage.access_key_id or SecretStr(EMBEDDED_ACCESS_KEY)
    if settings.storage.secret_access_key is not None:
        secret = settings.storage.secret_access_key.get_secret_value()
    else:
        secret = kept_secret(data_dir, S3_SECRET_FILE)
    return KeyPair(key_id.get_secret_value(), secret)


def _embedded_connection(
    settings: Settings,
    endpoint_url: str,
    keys: KeyPair,
    generated: bool = False,
    *,
    empty: bool = False,
) -> Connection:
    """The embedded store's connection: its endpoint and the key pair it accepts (its
    bucket created; ``empty``: a store that keeps nothing across starts)."""
    local = settings.replace(
        endpoint_url=endpoint_url,
        access_key_id=SecretStr(keys.access_key_id),
        secret_access_key=SecretStr(keys.secret_access_key),
    )
    bucket = open_bucket(local)
    bucket.ensure_exists(local.storage.region, likely_new=empty)
    return Connection(bucket, local, embedded=True, secret_generated=generated)

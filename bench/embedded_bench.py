"""A bench's own embedded store: the settings that reach it and its bucket, made ready.

Example::

    with EmbeddedS3(keys=KEYS) as server:
        settings = store_settings(server, KEYS, scratch_dir=work / "scratch")
        bucket = ready_bucket(settings)
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from pipeline.core.settings import Settings
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair


def store_settings(server: EmbeddedS3, keys: KeyPair, **changes: Any) -> Settings:
    """Settings for the bucket ``bench`` of ``server``, signed with ``keys``; ``changes``
    by their public names."""
    return Settings(
        endpoint_url=server.endpoint_url,
        bucket="bench",
        access_key_id=SecretStr(keys.access_key_id),
        secret_access_key=SecretStr(keys.secret_access_key),
        **changes,
    )


def ready_bucket(settings: Settings) -> Bucket:
    """The settings' bucket, created if it is not there."""
    bucket = Bucket(make_s3_client(settings), settings.storage.bucket)
    bucket.ensure_exists(settings.storage.region)
    return bucket

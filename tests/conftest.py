"""Shared fixtures: a real moto S3 server for the session, wiped between tests."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from pipeline.cli.warm_place import WARM_VARIABLE
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.detect.offline import offline_environment
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

# Every `reelpipe process` a test starts runs cold in its own process, as the test
# asserts on that process (its children, its signals, its exit); the warm worker's tests
# turn it on, each in a runtime folder of its own.
os.environ.setdefault(WARM_VARIABLE, "off")

TEST_BUCKET = "reelpipe-test"
TEST_KEYS = KeyPair("test-access-key", "test-secret-key-do-not-log")


@pytest.fixture(scope="session", autouse=True)
def ultralytics_offline(tmp_path_factory: pytest.TempPathFactory) -> None:
    """ultralytics never downloads and keeps its settings in the session's tmp dir."""
    offline_environment(tmp_path_factory.mktemp("ultralytics"))


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    """A command run in process (``main([...])``) configures logging onto the stream
    pytest captured for that test; later tests log through structlog's defaults again."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail any connection beyond loopback; returns the addresses that were attempted."""
    attempts: list[object] = []
    original = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(("127.", "::1", "localhost", "/")):
            attempts.append(address)
            raise OSError(f"network access attempted in a test: {address!r}")
        original(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


@pytest.fixture(scope="session")
def s3_server() -> Iterator[EmbeddedS3]:
    """One moto S3 server on loopback for the whole run (its moto API opened, to reset)."""
    with EmbeddedS3(keys=TEST_KEYS, moto_api=True) as server:
        yield server


def signed_headers(url: str, method: str, keys: KeyPair = TEST_KEYS) -> dict[str, str]:
    """SigV4 headers for a bodiless request to the test store, signed as boto3 signs."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url)
    credentials = Credentials(keys.access_key_id, keys.secret_access_key)
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.fixture
def settings(s3_server: EmbeddedS3, tmp_path: Path) -> Settings:
    """Settings pointing at the test server, scratch under the test's tmp dir."""
    url = f"{s3_server.endpoint_url}/moto-api/reset"
    request = urllib.request.Request(url, headers=signed_headers(url, "POST"), method="POST")
    urllib.request.urlopen(request).close()
    return Settings(
        endpoint_url=s3_server.endpoint_url,
        bucket=TEST_BUCKET,
        access_key_id=SecretStr(TEST_KEYS.access_key_id),
        secret_access_key=SecretStr(TEST_KEYS.secret_access_key),
        scratch_dir=tmp_path / "scratch",
        progress_interval_s=0.0,
        final_encode=EncodeProfile(preset="veryfast", crf=23),
    )


@pytest.fixture
def bucket(settings: Settings) -> Bucket:
    """An empty bucket on the test server."""
    b = Bucket(make_s3_client(settings), settings.storage.bucket, multipart_threshold=5 * 1024**2)
    b.ensure_exists(settings.storage.region)
    return b

"""What the embedded store's signature check costs, against a whole request through it.

Times ``sigv4.verify`` alone on a request signed as boto3 signs it, then a 1 kB
``get_object`` round trip through the running store (gate, moto, werkzeug,
botocore), side by side; the ratio is the share of a request the check takes.

Usage (from the repository root): python -m bench.embedded_auth_cost [--runs 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import SecretStr

from pipeline.core.settings import Settings
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair, SignedRequest, Verified, verify

KEYS = KeyPair("bench-key", "bench-secret")


def _signed(url: str) -> SignedRequest:
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(
        Credentials(KEYS.access_key_id, KEYS.secret_access_key), "s3", "us-east-1"
    ).add_auth(request)
    parts = urlsplit(url)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = parts.netloc
    return SignedRequest("GET", parts.path, parts.query, headers)


def _median_us(call: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    with EmbeddedS3(keys=KEYS) as server:
        settings = Settings(
            endpoint_url=server.endpoint_url,
            bucket="bench",
            access_key_id=SecretStr(KEYS.access_key_id),
            secret_access_key=SecretStr(KEYS.secret_access_key),
        )
        bucket = Bucket(make_s3_client(settings), "bench")
        bucket.ensure_exists(settings.storage.region)
        bucket.put_bytes("clips/one-kb.bin", b"x" * 1024)
        request = _signed(f"{server.endpoint_url}/bench/clips/one-kb.bin")
        verdict = verify(request, KEYS)
        assert isinstance(verdict, Verified), verdict  # time the check that passes
        check = _median_us(lambda: verify(request, KEYS), args.runs)
        trip = _median_us(lambda: bucket.get_bytes("clips/one-kb.bin"), args.runs // 4)
    print("| what | median |\n| --- | --- |")
    print(f"| signature check alone | {check:.0f} us |")
    print(f"| 1 kB get_object through the store | {trip:.0f} us |")
    print(f"| check / request | {check / trip:.1%} |")


if __name__ == "__main__":
    main()

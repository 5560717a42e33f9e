"""The embedded store answers only requests signed by its key pair, and no CORS.

Every test talks HTTP to a real running EmbeddedS3: raw ``requests`` for anonymous and
forged requests, boto3 (through the project's Bucket) and botocore's signers for
signed ones, the ``aws`` CLI for the README's commands.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import SecretStr

from pipeline.core.errors import AccessDenied
from pipeline.core.settings import Settings
from pipeline.media.object_relay import ObjectRelay
from pipeline.storage.bucket import Bucket, make_s3_client
from pipeline.storage.embedded import EmbeddedS3
from pipeline.storage.sigv4 import KeyPair

KEYS = KeyPair("auth-test-key", "auth-test-secret-never-shown")
BUCKET = "reelpipe"
SECRET_KEY = "users/alice/secret.txt"
OTHER_KEY = "users/bob/other.txt"
ZERO = "0" * 64


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedS3]:
    """A store as ``serve`` starts it (moto API closed), with one bucket and two objects."""
    with EmbeddedS3(keys=KEYS) as server:
        bucket = bucket_for(server.endpoint_url)
        bucket.ensure_exists("us-east-1")
        bucket.put_bytes(SECRET_KEY, b"alice's")
        bucket.put_bytes(OTHER_KEY, b"bob's")
        yield server


def bucket_for(endpoint: str, keys: KeyPair = KEYS, **overrides: Any) -> Bucket:
    settings = Settings(
        endpoint_url=endpoint,
        bucket=BUCKET,
        access_key_id=SecretStr(keys.access_key_id),
        secret_access_key=SecretStr(keys.secret_access_key),
        s3_max_attempts=1,
    )
    return Bucket(make_s3_client(settings), BUCKET, **overrides)


class FixedPayload(S3SigV4Auth):
    """botocore's S3 signer, signing a given x-amz-content-sha256 instead of the body's
    digest (over plain http botocore always hashes the body)."""

    def __init__(self, credentials: Credentials, service: str, region: str, payload: str) -> None:
        super().__init__(credentials, service, region)
        self.fixed = payload

    def payload(self, request: AWSRequest) -> str:
        return self.fixed


def signed(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    keys: KeyPair = KEYS,
    service: str = "s3",
    payload: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers botocore's S3 signer gives this request (``payload``: a fixed
    x-amz-content-sha256 to sign instead of the body's digest; ``headers``: more to sign)."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    credentials = Credentials(keys.access_key_id, keys.secret_access_key)
    if payload is None:
        S3SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    else:
        FixedPayload(credentials, service, "us-east-1", payload).add_auth(request)
    return dict(request.headers.items())


def error_code(answer: requests.Response) -> str:
    return answer.text.split("<Code>")[1].split("</Code>")[0]


@pytest.fixture
def signed_in_the_past(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs as if it were 20 minutes ago."""
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", f"/{BUCKET}?list-type=2&prefix=users/", None),
        ("GET", "/", None),
        ("GET", f"/{BUCKET}/{SECRET_KEY}", None),
        ("HEAD", f"/{BUCKET}/{SECRET_KEY}", None),
        ("PUT", f"/{BUCKET}/users/mallory/planted.txt", b"planted"),
        ("DELETE", f"/{BUCKET}/{SECRET_KEY}", None),
        ("POST", "/moto-api/reset", None),
        ("GET", "/moto-api/data.json", None),
    ],
)
def test_anonymous_requests_are_refused(
    store: EmbeddedS3, method: str, path: str, data: bytes | None
) -> None:
    """No signature, no answer: listing, reading, writing, deleting, moto's API."""
    answer = requests.request(method, store.endpoint_url + path, data=data, timeout=10)
    assert answer.status_code == 403
    if method != "HEAD":
        assert error_code(answer) == "AccessDenied" and "users/" not in answer.text
    bucket = bucket_for(store.endpoint_url)
    assert bucket.get_bytes(SECRET_KEY)[0] == b"alice's"
    assert not bucket.exists("users/mallory/planted.txt")


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        (KeyPair("someone-else", KEYS.secret_access_key), "InvalidAccessKeyId"),
        (KeyPair(KEYS.access_key_id, "a-wrong-secret"), "SignatureDoesNotMatch"),
    ],
)
def test_unknown_keys_and_wrong_secrets_are_refused(
    store: EmbeddedS3, keys: KeyPair, code: str
) -> None:
    """boto3 with any other key pair gets S3's own error, which the Bucket calls AccessDenied."""
    url = f"{store.endpoint_url}/{BUCKET}/{SECRET_KEY}"
    answer = requests.get(url, headers=signed("GET", url, keys=keys), timeout=10)
    assert answer.status_code == 403 and error_code(answer) == code
    with pytest.raises(AccessDenied):
        bucket_for(store.endpoint_url, keys).get_bytes(SECRET_KEY)[0]
    with pytest.raises(AccessDenied):
        bucket_for(store.endpoint_url, keys).put_bytes("users/mallory/planted.txt", b"x")


@pytest.mark.parametrize(
    ("method", "key_id", "code"),
    [
        ("GET", "AKIDUNKNOWN", "InvalidAccessKeyId"),
        ("PUT", "AKIDUNKNOWN", "InvalidAccessKeyId"),
        ("DELETE", "AKIDUNKNOWN", "InvalidAccessKeyId"),
        ("GET", KEYS.access_key_id, "SignatureDoesNotMatch"),
        ("DELETE", KEYS.access_key_id, "SignatureDoesNotMatch"),
    ],
)
def test_a_zero_signature_is_refused(
    store: EmbeddedS3, method: str, key_id: str, code: str
) -> None:
    """A well-formed header with a made-up signature reads, writes and deletes nothing."""
    headers = signed(method, f"{store.endpoint_url}/{BUCKET}/{SECRET_KEY}", body=b"")
    scope = f"{headers['X-Amz-Date'][:8]}/us-east-1/s3/aws4_request"
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={ZERO}"
    )
    answer = requests.request(
        method, f"{store.endpoint_url}/{BUCKET}/{SECRET_KEY}", headers=headers, timeout=10
    )
    assert answer.status_code == 403 and error_code(answer) == code
    assert bucket_for(store.endpoint_url).get_bytes(SECRET_KEY)[0] == b"alice's"


def test_a_presigned_link_opens_its_object_and_no_other(store: EmbeddedS3) -> None:
    """The link works as issued; edited to another key, or zeroed, it does not."""
    link = bucket_for(store.endpoint_url).presigned_get(SECRET_KEY, expires_s=60)
    assert requests.get(link, timeout=10).content == b"alice's"
    edited = link.replace("users/alice/secret.txt", "users/bob/other.txt")
    assert edited != link
    refused = requests.get(edited, timeout=10)
    assert refused.status_code == 403 and error_code(refused) == "SignatureDoesNotMatch"
    listing = link.replace(f"/{SECRET_KEY}?", "?list-type=2&")
    assert requests.get(listing, timeout=10).status_code == 403
    zeroed = link.split("X-Amz-Signature=")[0] + "X-Amz-Signature=" + ZERO
    assert requests.get(zeroed, timeout=10).status_code == 403


def test_an_expired_presigned_link_is_refused(store: EmbeddedS3, signed_in_the_past: None) -> None:
    """A link made with ExpiresIn=1 twenty minutes ago has expired."""
    link = bucket_for(store.endpoint_url).presigned_get(SECRET_KEY, expires_s=1)
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 403 and error_code(answer) == "AccessDenied"
    assert "Request has expired" in answer.text


def test_a_header_signed_request_from_20_minutes_ago_is_refused(
    store: EmbeddedS3, signed_in_the_past: None
) -> None:
    """A captured request cannot be replayed after 15 minutes (S3's own window)."""
    url = f"{store.endpoint_url}/{BUCKET}/{SECRET_KEY}"
    answer = requests.get(url, headers=signed("GET", url), timeout=10)
    assert answer.status_code == 403 and error_code(answer) == "RequestTimeTooSkewed"


def test_no_cors_for_any_origin(store: EmbeddedS3) -> None:
    """A page on another origin gets no Access-Control-* header, and no preflight."""
    evil = {"Origin": "https://evil.example"}
    link = bucket_for(store.endpoint_url).presigned_get(SECRET_KEY, expires_s=60)
    answer = requests.get(link, headers=evil, timeout=10)
    assert answer.status_code == 200
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
    url = f"{store.endpoint_url}/{BUCKET}/{SECRET_KEY}"
    preflight = requests.options(
        url, headers={**evil, "Access-Control-Request-Method": "GET"}, timeout=10
    )
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_signed_put_get_list_and_multipart_work(store: EmbeddedS3, tmp_path: Path) -> None:
    """Everything reelpipe does through its Bucket still works, parts included."""
    bucket = bucket_for(store.endpoint_url, multipart_threshold=5 * 1024**2)
    bucket.put_json("users/dave/a b/ü+x.json", {"n": 1})
    assert bucket.get_json("users/dave/a b/ü+x.json").data == {"n": 1}
    assert [info.key for info in bucket.list("users/dave/")] == ["users/dave/a b/ü+x.json"]
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024**2))  # above the threshold, in 8 MiB parts: two
    etag = bucket.upload_file(big, "users/dave/big.bin")
    assert etag.strip('"').endswith("-2")
    out = tmp_path / "back.bin"
    bucket.download_file("users/dave/big.bin", out)
    assert out.read_bytes() == big.read_bytes()
    bucket.delete("users/dave/big.bin")
    assert not bucket.exists("users/dave/big.bin")


def test_the_object_relay_reads_ranges_through_the_gate(store: EmbeddedS3) -> None:
    """ffprobe's loopback relay fetches ranges with the bucket's client: still served."""
    with ObjectRelay(bucket_for(store.endpoint_url), SECRET_KEY) as relay:
        answer = requests.get(relay.url, headers={"Range": "bytes=2-4"}, timeout=10)
    assert answer.status_code == 206 and answer.content == b"ice"
    assert relay.failure is None


def test_a_body_that_is_not_the_signed_one_is_refused(store: EmbeddedS3) -> None:
    """The signature covers the body's digest: a swapped body is refused, nothing written."""
    url = f"{store.endpoint_url}/{BUCKET}/users/carol/swapped.txt"
    headers = signed("PUT", url, body=b"what was signed")
    answer = requests.put(url, data=b"something else", headers=headers, timeout=10)
    assert answer.status_code == 400 and error_code(answer) == "XAmzContentSHA256Mismatch"
    assert not bucket_for(store.endpoint_url).exists("users/carol/swapped.txt")
    assert requests.put(url, data=b"what was signed", headers=headers, timeout=10).ok


def test_unsigned_and_streamed_payloads_pass_with_their_headers_signed(store: EmbeddedS3) -> None:
    """UNSIGNED-PAYLOAD and aws-chunked (the forms botocore sends over https) are accepted;
    a presigned PUT too."""
    url = f"{store.endpoint_url}/{BUCKET}/users/carol/unsigned.txt"
    headers = signed("PUT", url, payload="UNSIGNED-PAYLOAD")
    assert requests.put(url, data=b"unsigned body", headers=headers, timeout=10).ok
    assert (
        bucket_for(store.endpoint_url).get_bytes("users/carol/unsigned.txt")[0] == b"unsigned body"
    )

    url = f"{store.endpoint_url}/{BUCKET}/users/carol/chunked.txt"
    chunked = b"5\r\nhello\r\n0\r\n\r\n"
    extra = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "5"}
    headers = signed("PUT", url, payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers=extra)
    assert requests.put(url, data=chunked, headers=headers, timeout=10).ok
    assert bucket_for(store.endpoint_url).get_bytes("users/carol/chunked.txt")[0] == b"hello"

    s3 = bucket_for(store.endpoint_url).client
    link = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "users/carol/presigned.txt"}, ExpiresIn=60
    )
    assert requests.put(link, data=b"via link", timeout=10).ok
    assert bucket_for(store.endpoint_url).get_bytes("users/carol/presigned.txt")[0] == b"via link"


def test_a_signature_for_another_service_is_refused(store: EmbeddedS3) -> None:
    """moto routes by the signed service: only S3 scopes pass, no other moto backend."""
    url = f"{store.endpoint_url}/?Action=ListUsers&Version=2010-05-08"
    answer = requests.get(url, headers=signed("GET", url, service="iam"), timeout=10)
    assert answer.status_code in (400, 403) and "ListUsers" not in answer.text


def test_unsigned_headers_and_bodies_cannot_send_a_verified_request_to_another_service(
    store: EmbeddedS3,
) -> None:
    """moto's own dispatcher picked a service from X-Amz-Target or an Action= body, which
    no signature covers: a presigned S3 link with such a header reached Cognito or STS."""
    link = bucket_for(store.endpoint_url).presigned_get(SECRET_KEY, expires_s=60)
    target = {"X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools"}
    answer = requests.get(link, headers=target, timeout=10)  # an unsigned x-amz-* header
    assert answer.status_code == 403 and "not signed: x-amz-target" in answer.text
    assert "UserPools" not in answer.text
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.get(link, headers=form, data="Action=AssumeRoleWithWebIdentity", timeout=10)
    assert "AssumeRoleWithWebIdentity" not in answer.text and answer.status_code != 404


def test_an_unsigned_x_amz_header_is_refused(store: EmbeddedS3) -> None:
    """As on S3: a copy source or an ACL header a signer did not sign changes the request."""
    link = bucket_for(store.endpoint_url).presigned_get(SECRET_KEY, expires_s=60)
    copy = {"x-amz-copy-source": f"/{BUCKET}/{OTHER_KEY}"}
    answer = requests.get(link, headers=copy, timeout=10)
    assert answer.status_code == 403 and error_code(answer) == "AccessDenied"


def test_the_data_directory_is_private(tmp_path: Path) -> None:
    """The objects on disk are users' videos: only the store's owner may enter its folder."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with EmbeddedS3(keys=KEYS, data_dir=data):
        assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_the_moto_api_stays_closed_to_signed_requests_on_a_served_store(store: EmbeddedS3) -> None:
    """Only the test suite's store opens /moto-api (and only to signed requests)."""
    url = f"{store.endpoint_url}/moto-api/reset"
    assert requests.post(url, headers=signed("POST", url), timeout=10).status_code == 403
    assert bucket_for(store.endpoint_url).get_bytes(SECRET_KEY)[0] == b"alice's"


def test_the_test_suites_store_resets_only_when_signed(s3_server: EmbeddedS3) -> None:
    """The suite's own switch still refuses an anonymous reset."""
    answer = requests.post(f"{s3_server.endpoint_url}/moto-api/reset", timeout=10)
    assert answer.status_code == 403


AWS_CLI = Path(sys.executable).with_name("aws")


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the aws CLI (PyPI awscli) is not installed")
def test_the_readmes_aws_cli_commands_work(store: EmbeddedS3, tmp_path: Path) -> None:
    """``aws --endpoint-url ... s3 cp`` with the store's keys uploads (multipart too); with
    another secret it is refused."""
    clip = tmp_path / "game.mp4"
    clip.write_bytes(os.urandom(9 * 1024**2))  # above the CLI's 8 MiB multipart threshold
    job = tmp_path / "job.json"
    job.write_text("{}")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": KEYS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": KEYS.secret_access_key,
    }

    def aws(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        command = [str(AWS_CLI), "--endpoint-url", store.endpoint_url, "s3", *args]
        return subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, timeout=60
        )

    assert aws("cp", str(clip), f"s3://{BUCKET}/users/alice/clips/game.mp4").returncode == 0
    assert aws("cp", str(job), f"s3://{BUCKET}/inbox/alice/req-1.json").returncode == 0
    bucket = bucket_for(store.endpoint_url)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert hashlib.sha256(bucket.get_bytes("users/alice/clips/game.mp4")[0]).hexdigest() == digest
    assert bucket.get_bytes("inbox/alice/req-1.json")[0] == b"{}"
    refused = aws("ls", f"s3://{BUCKET}/", AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert refused.returncode != 0 and "SignatureDoesNotMatch" in refused.stderr
    assert KEYS.secret_access_key not in refused.stderr

"""SigV4 as the embedded store verifies it, against the examples AWS publishes for S3."""

from __future__ import annotations

import pytest

from pipeline.storage.sigv4 import (
    KeyPair,
    Refusal,
    SignedRequest,
    Verified,
    canonical_path,
    canonical_query,
    verify,
)

# The key pair and time of the S3 examples in AWS's SigV4 documentation.
AWS_KEYS = KeyPair("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
MAY_24_2013 = 1369353600.0  # 20130524T000000Z
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEADER_SIGNATURE = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
QUERY_SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
SCOPE = "20130524/us-east-1/s3/aws4_request"


def header_signed(signature: str = HEADER_SIGNATURE, **overrides: str) -> SignedRequest:
    """AWS's example GET /test.txt with a Range, signed in the Authorization header."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{SCOPE},"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            f"Signature={signature}"
        ),
    }
    return SignedRequest("GET", overrides.pop("path", "/test.txt"), "", {**headers, **overrides})


def presigned(path: str = "/test.txt", signature: str = QUERY_SIGNATURE) -> SignedRequest:
    """AWS's example presigned GET /test.txt, valid for a day."""
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F{SCOPE.replace('/', '%2F')}"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={signature}"
    )
    return SignedRequest("GET", path, query, {"host": "examplebucket.s3.amazonaws.com"})


def test_the_published_header_example_verifies() -> None:
    """AWS's own example: our canonical request is the spec's, not just botocore's."""
    assert verify(header_signed(), AWS_KEYS, now=MAY_24_2013 + 60) == Verified(EMPTY_SHA256)


def test_the_published_presigned_example_verifies_until_it_expires() -> None:
    assert verify(presigned(), AWS_KEYS, now=MAY_24_2013 + 3600) == Verified(None)
    expired = verify(presigned(), AWS_KEYS, now=MAY_24_2013 + 86401)
    assert expired == Refusal("AccessDenied", "Request has expired")


@pytest.mark.parametrize(
    ("request_", "keys", "now", "code"),
    [
        (
            header_signed(),
            KeyPair("AKIDOTHER", AWS_KEYS.secret_access_key),
            0,
            "InvalidAccessKeyId",
        ),
        (header_signed(), KeyPair(AWS_KEYS.access_key_id, "wrong"), 0, "SignatureDoesNotMatch"),
        (header_signed("0" * 64), AWS_KEYS, 0, "SignatureDoesNotMatch"),
        (header_signed(path="/other.txt"), AWS_KEYS, 0, "SignatureDoesNotMatch"),
        (header_signed(range="bytes=0-99"), AWS_KEYS, 0, "SignatureDoesNotMatch"),
        (header_signed(), AWS_KEYS, 16 * 60, "RequestTimeTooSkewed"),
        (header_signed(), AWS_KEYS, -17 * 60, "RequestTimeTooSkewed"),
        (presigned(path="/other.txt"), AWS_KEYS, 0, "SignatureDoesNotMatch"),
        (presigned(signature="0" * 64), AWS_KEYS, 0, "SignatureDoesNotMatch"),
        (SignedRequest("GET", "/test.txt", "", {"host": "h"}), AWS_KEYS, 0, "AccessDenied"),
    ],
)
def test_refusals(request_: SignedRequest, keys: KeyPair, now: float, code: str) -> None:
    """Each forgery gets the error S3 gives it (``now``: seconds after the example's time)."""
    result = verify(request_, keys, now=MAY_24_2013 + 60 + now)
    assert isinstance(result, Refusal) and result.code == code


def test_a_scope_for_another_service_is_refused() -> None:
    """moto routes by the signed service, so only s3 passes."""
    request_ = header_signed()
    iam = dict(request_.headers)
    iam["authorization"] = iam["authorization"].replace("/s3/", "/iam/")
    result = verify(SignedRequest("GET", "/test.txt", "", iam), AWS_KEYS, now=MAY_24_2013)
    assert isinstance(result, Refusal) and result.code == "AuthorizationHeaderMalformed"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/bkt/a%20b/%C3%BC%2Bx.txt", "/bkt/a%20b/%C3%BC%2Bx.txt"),
        ("/bkt/a b/ü", "/bkt/a%20b/%C3%BC"),  # sent unencoded: encoded as signed
        ("/bkt/x~y%7E*", "/bkt/x~y~%2A"),
        ("/bkt/%2e%2e/k", "/bkt/../k"),  # S3 does not normalise the path
        ("", "/"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical


def test_canonical_query_sorts_and_encodes() -> None:
    pairs = [("prefix", "users/a b"), ("list-type", "2"), ("uploads", "")]
    assert canonical_query(pairs) == "list-type=2&prefix=users%2Fa%20b&uploads="

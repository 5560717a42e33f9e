"""AWS Signature Version 4, as the server side checks it: one request, verified or refused.

The embedded store (:mod:`pipeline.storage.sigv4_gate`) hands each request here as a
:class:`SignedRequest` (method, the path and query exactly as received, headers) and
gets back either :class:`Verified` or a :class:`Refusal` that says what S3 would answer.
No I/O, no clock of its own (``now`` is passed in), nothing of moto or werkzeug.

Both forms S3 accepts are checked:

- the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``
  header, with ``X-Amz-Date`` at most 15 minutes off (S3's ``RequestTimeTooSkewed``);
- the presigned query (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``), refused once
  ``X-Amz-Date + X-Amz-Expires`` has passed.

The canonical request follows the SigV4 specification rather than botocore's signer:
botocore builds it from what the client means to send, a server must build it from what
arrived. The path is taken as received, percent-decoded once and re-encoded (S3 does not
normalise ``.``/``..`` or double-encode), so what is verified is the key moto serves; the
query is decoded the way werkzeug decodes it for moto (``+`` is a space) and re-encoded.

Example::

    result = verify(request, KeyPair("reelpipe-local", secret), now=time.time())
    if isinstance(result, Refusal):
        ...  # answer result.status with result.code
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
MAX_SKEW_S = 15 * 60  # S3 refuses a header-signed request whose date is further off
MAX_EXPIRES_S = 7 * 24 * 3600  # the longest presigned link S3 accepts
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
PAYLOAD_HEADER = "x-amz-content-sha256"
# x-amz-content-sha256 values whose body is not hashed as a whole: the aws-chunked
# forms carry a signature per chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) or a
# trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
STREAMING_PREFIX = "STREAMING-"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_PRESIGNED = "X-Amz-Signature"


@dataclass(frozen=True)
class KeyPair:
    """The one access key the store accepts (the secret never shows in a repr)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class SignedRequest:
    """A request as it arrived: ``raw_path`` still percent-encoded, ``raw_query`` the part
    after ``?``, ``headers`` keyed by lower-case name."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Verified:
    """The signature holds. ``payload_sha256`` is the hex digest the body must have
    (None: the payload is unsigned or streamed, nothing to hash)."""

    payload_sha256: str | None


@dataclass(frozen=True)
class Refusal:
    """What S3 would answer instead (an S3 error code; the message holds no secret)."""

    code: str
    message: str
    status: int = 403


def verify(
    request: SignedRequest, keys: KeyPair, *, now: float | None = None
) -> Verified | Refusal:
    """Check ``request``'s SigV4 signature (header or presigned form) against ``keys``."""
    now = time.time() if now is None else now
    query = _parse_query(request.raw_query)
    names = {name for name, _ in query}
    if _PRESIGNED in names:
        if "authorization" in request.headers:
            return Refusal("InvalidArgument", "Only one auth mechanism allowed", 400)
        return _verify_presigned(request, query, keys, now)
    authorization = request.headers.get("authorization", "")
    if authorization.startswith(ALGORITHM + " "):
        return _verify_header(request, authorization, query, keys, now)
    if authorization:
        return Refusal("AccessDenied", "Only AWS4-HMAC-SHA256 signatures are accepted")
    return Refusal("AccessDenied", "Anonymous access is refused: sign the request")


def _verify_header(
    request: SignedRequest,
    authorization: str,
    query: list[tuple[str, str]],
    keys: KeyPair,
    now: float,
) -> Verified | Refusal:
    fields = _auth_fields(authorization[len(ALGORITHM) + 1 :])
    credential, signed, signature = (
        fields.get(k) for k in ("Credential", "SignedHeaders", "Signature")
    )
    if not credential or not signed or not signature:
        return Refusal("AccessDenied", "The Authorization header is malformed")
    amz_date = request.headers.get("x-amz-date", "")
    when = _parse_date(amz_date)
    if when is None:
        return Refusal("AccessDenied", "A valid X-Amz-Date header is required")
    if abs(now - when) > MAX_SKEW_S:
        return Refusal(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large",
        )
    payload = request.headers.get("x-amz-content-sha256")
    if payload is None:  # S3 requires it (the generic SigV4 form, without it, is not S3's)
        return Refusal("InvalidRequest", "Missing required header x-amz-content-sha256", 400)
    if not (
        _HEX_DIGEST.fullmatch(payload)
        or payload == UNSIGNED_PAYLOAD
        or payload.startswith(STREAMING_PREFIX)
    ):
        return Refusal("InvalidArgument", "x-amz-content-sha256 must be a SHA-256 hex digest", 400)
    refusal = _check_signature(
        request, query, credential, signed, signature, amz_date, payload, keys
    )
    if refusal is not None:
        return refusal
    return Verified(payload if _HEX_DIGEST.fullmatch(payload) else None)


def _verify_presigned(
    request: SignedRequest, query: list[tuple[str, str]], keys: KeyPair, now: float
) -> Verified | Refusal:
    params: dict[str, str] = {}
    for name, value in query:
        if name.startswith("X-Amz-"):
            if name in params:
                return Refusal("AccessDenied", f"{name} is given twice")
            params[name] = value
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        return Refusal("AccessDenied", "Only AWS4-HMAC-SHA256 signatures are accepted")
    amz_date = params.get("X-Amz-Date", "")
    when = _parse_date(amz_date)
    expires = params.get("X-Amz-Expires", "")
    if when is None or not expires.isdigit():
        return Refusal("AccessDenied", "X-Amz-Date and X-Amz-Expires are required")
    if not 0 < int(expires) <= MAX_EXPIRES_S:
        return Refusal("AuthorizationQueryParametersError", "X-Amz-Expires is out of range", 400)
    if now > when + int(expires):
        return Refusal("AccessDenied", "Request has expired")
    if when - now > MAX_SKEW_S:
        return Refusal("AccessDenied", "Request is not valid yet")
    unsigned = [(name, value) for name, value in query if name != _PRESIGNED]
    refusal = _check_signature(
        request,
        unsigned,
        params.get("X-Amz-Credential", ""),
        params.get("X-Amz-SignedHeaders", ""),
        params.get(_PRESIGNED, ""),
        amz_date,
        UNSIGNED_PAYLOAD,  # a presigned link never signs its body
        keys,
    )
    return refusal or Verified(None)


def _check_signature(
    request: SignedRequest,
    query: list[tuple[str, str]],
    credential: str,
    signed_headers: str,
    signature: str,
    amz_date: str,
    payload: str,
    keys: KeyPair,
) -> Refusal | None:
    """None when ``signature`` is the one ``keys`` give this request, else the refusal."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return Refusal("AuthorizationHeaderMalformed", "The credential scope is malformed", 400)
    access_key, day, region, service, _ = parts
    if not hmac.compare_digest(access_key.encode(), keys.access_key_id.encode()):
        return Refusal(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records"
        )
    # Only S3 is served: a scope naming another service would reach another moto backend.
    if service != SERVICE or day != amz_date[:8]:
        return Refusal("AuthorizationHeaderMalformed", "The credential scope does not match", 400)
    names = signed_headers.split(";")
    if "host" not in names or names != sorted(set(names)):
        return Refusal("AccessDenied", "SignedHeaders must be sorted and include host")
    # As S3: every x-amz-* header a request carries is signed (a copy source, an ACL, a
    # checksum change what the request does). The payload digest is covered either way:
    # a header-signed request signs its value as the canonical request's last line.
    unsigned = sorted(
        name
        for name in request.headers
        if name.startswith("x-amz-") and name != PAYLOAD_HEADER and name not in names
    )
    if unsigned:
        return Refusal(
            "AccessDenied",
            "There were headers present in the request which were not signed: "
            + ", ".join(unsigned),
        )
    canonical = "\n".join(
        [
            request.method,
            canonical_path(request.raw_path),
            canonical_query(query),
            "".join(f"{name}:{_trim(request.headers.get(name, ''))}\n" for name in names),
            signed_headers,
            payload,
        ]
    )
    scope = "/".join(parts[1:])
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(keys.secret_access_key, day, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return Refusal(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        )
    return None


def canonical_path(raw_path: str) -> str:
    """The path as S3 signs it: decoded once, every byte outside ``A-Za-z0-9-._~/``
    percent-encoded (upper-case hex)."""
    return quote(unquote_to_bytes(raw_path or "/"), safe="/~")


def canonical_query(query: list[tuple[str, str]]) -> str:
    """Decoded ``(name, value)`` pairs, re-encoded and sorted (``uploads`` -> ``uploads=``)."""
    encoded = sorted((quote(name, safe="~"), quote(value, safe="~")) for name, value in query)
    return "&".join(f"{name}={value}" for name, value in encoded)


@functools.lru_cache(maxsize=16)
def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The derived key: HMAC chain over the day, region, service and ``aws4_request``
    (the same all day: kept, a third of the cost of a verification otherwise)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_query(raw_query: str) -> list[tuple[str, str]]:
    """``a=1&b`` -> ``[("a", "1"), ("b", "")]``, decoded as werkzeug decodes it for moto."""
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _auth_fields(text: str) -> dict[str, str]:
    """``Credential=a, SignedHeaders=b, Signature=c`` -> a dict of the three."""
    fields = {}
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    return fields


def _parse_date(amz_date: str) -> float | None:
    """Seconds since the epoch of ``20261206T211035Z``, or None when it is not one
    (parsed by hand: ``time.strptime`` was a third of a verification's cost)."""
    match = _AMZ_DATE.fullmatch(amz_date)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:  # 20261399T...: digits, but no date
        return None


def _trim(value: str) -> str:
    """A header value as SigV4 signs it: outer spaces gone, inner runs collapsed."""
    return " ".join(value.split())

"""Bucket: the one boundary between reelpipe and an S3 API (moto, R2, S3, MinIO).

botocore errors are translated here, by error code, into the project's error
types; nothing above this module sees a ``ClientError``. Retries for throttling
and 5xx are configured on the client (botocore's ``standard`` mode), not looped
by hand.

Example::

    bucket = Bucket(make_s3_client(settings), settings.storage.bucket)
    etag = bucket.put_json("users/a/x.json", {"n": 1}, if_none_match=True)
    doc = bucket.get_json("users/a/x.json")
    bucket.put_json("users/a/x.json", {"n": 2}, if_match=doc.etag)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import RetriesExceededError as Boto3RetriesExceeded
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError
from s3transfer.exceptions import RetriesExceededError

from pipeline.core.errors import (
    AccessDenied,
    AlreadyExists,
    BucketNotFound,
    ObjectNotFound,
    PreconditionFailed,
    StorageError,
    StorageUnavailable,
)
from pipeline.core.keys import DEFAULT_LAYOUT, Layout

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

    from pipeline.core.settings import Settings

DOWNLOAD_ATTEMPTS = 2  # botocore retries each request; this is for a stream cut mid-body
_CHUNK = 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412"}
_CONFLICT = {"ConditionalRequestConflict", "409"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
_UNAVAILABLE = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
    "503",
    "500",
}


def make_s3_client(settings: Settings) -> S3Client:
    """An S3 client for the configured endpoint, with retries configured for 5xx/throttling."""
    config = Config(
        region_name=settings.storage.region,
        signature_version="s3v4",
        retries={"total_max_attempts": settings.storage.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"},
        connect_timeout=settings.storage.connect_timeout_s,
        read_timeout=settings.storage.read_timeout_s,
        # One connection per concurrent claim (the scan's pool), and a few for the rest.
        max_pool_connections=settings.leases.claim_concurrency + 8,
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.storage.endpoint_url,
        aws_access_key_id=(
            settings.storage.access_key_id.get_secret_value()
            if settings.storage.access_key_id
            else None
        ),
        aws_secret_access_key=(
            settings.storage.secret_access_key.get_secret_value()
            if settings.storage.secret_access_key
            else None
        ),
        config=config,
    )


def open_bucket(settings: Settings) -> Bucket:
    """The configured bucket through a new client (the endpoint must be known)."""
    return Bucket(
        make_s3_client(settings),
        settings.storage.bucket,
        multipart_threshold=settings.storage.multipart_threshold_bytes,
        layout=Layout(settings.storage.user_root),
    )


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD or a listing tells about one object."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)  # a HEAD's only


@dataclass(frozen=True)
class JsonDocument:
    """A JSON object read from the bucket with the ETag to compare-and-swap against."""

    data: Any
    etag: str


def _translate(exc: ClientError | BotoCoreError, action: str, key: str) -> Exception:
    """Map a botocore error onto the project's error tree."""
    if isinstance(exc, ConnectionError):
        return StorageUnavailable(f"{action} {key!r}: the S3 endpoint is unreachable ({exc})")
    if not isinstance(exc, ClientError):
        return StorageUnavailable(f"{action} {key!r}: {exc}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    codes = {code, status}
    if codes & _PRECONDITION:
        return PreconditionFailed(f"{action} {key!r}: the object changed (precondition failed)")
    if codes & _CONFLICT:
        return PreconditionFailed(f"{action} {key!r}: a concurrent conditional write won")
    if code == "NoSuchBucket":
        return BucketNotFound(f"{action} {key!r}: the bucket does not exist")
    if codes & _NOT_FOUND:
        return ObjectNotFound(f"{action} {key!r}: no such key")
    if codes & _DENIED:
        return AccessDenied(f"{action} {key!r}: access denied ({code}); check the credentials")
    if codes & _UNAVAILABLE or status.startswith("5"):
        return StorageUnavailable(f"{action} {key!r}: the S3 endpoint is failing ({code})")
    return StorageError(f"{action} {key!r}: {code or status} {error.get('Message', '')}".strip())


class _StreamCut(Exception):
    """A download's body stopped before its end (the cause is botocore's error)."""


class _TranslatingBody:
    """A streaming body whose read errors are the project's (a stalled read is retryable)."""

    def __init__(self, body: Any, key: str) -> None:
        self._body = body
        self._key = key

    def read(self, size: int) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "read", self._key) from exc
        return data

    def close(self) -> None:
        self._body.close()


class Bucket:
    """One bucket on an S3 API, with the operations reelpipe needs, and where its users'
    folders are (``layout``)."""

    def __init__(
        self,
        client: S3Client,
        name: str,
        *,
        multipart_threshold: int = 64 * 1024**2,
        layout: Layout = DEFAULT_LAYOUT,
    ) -> None:
        self.client = client
        self.name = name
        self.layout = layout
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(8 * 1024**2, multipart_threshold // 8),
            use_threads=True,
            num_download_attempts=DOWNLOAD_ATTEMPTS,
        )

    def ensure_exists(self, region: str, *, likely_new: bool = False) -> None:
        """Create the bucket if it is missing (embedded server, tests). ``likely_new``
        (a store started empty): created at once, not looked for first, since a refused
        request costs three times an answered one."""
        if not likely_new:
            try:
                self.client.head_bucket(Bucket=self.name)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                    raise _translate(exc, "head bucket", self.name) from exc
        kwargs: dict[str, Any] = {"Bucket": self.name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise _translate(exc, "create bucket", self.name) from exc

    # -- objects ---------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        """Size and ETag of ``key``; raises ObjectNotFound."""
        try:
            resp = self.client.head_object(Bucket=self.name, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "head", key) from exc
        return ObjectInfo(
            key,
            resp["ContentLength"],
            resp["ETag"],
            resp.get("LastModified"),
            resp.get("Metadata") or {},
        )

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """The body and ETag of ``key``."""
        try:
            resp = self.client.get_object(Bucket=self.name, Key=key)
            return resp["Body"].read(), resp["ETag"]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "get", key) from exc

    def get_prefix(self, key: str, max_bytes: int) -> tuple[bytes, str, int]:
        """At most the first ``max_bytes + 1`` bytes of ``key``, its ETag and its full size:
        an object that claims to be small is never read whole when it is not."""
        try:
            try:
                resp = self.client.get_object(
                    Bucket=self.name, Key=key, Range=f"bytes=0-{max_bytes}"
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                resp = self.client.get_object(Bucket=self.name, Key=key)  # an empty object
            body = resp["Body"].read(max_bytes + 1)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "get", key) from exc
        content_range = str(resp.get("ContentRange") or "")
        size = int(content_range.rpartition("/")[2]) if "/" in content_range else len(body)
        return body, resp["ETag"], size

    def open_range(self, key: str, first: int, last: int | None) -> tuple[Any, int, int]:
        """Stream bytes ``first..last`` (inclusive; None: to the end) of ``key``.

        Returns ``(body, length, total_size)``; ``body.read(n)`` is bounded by the
        client's read timeout, so a stalled store raises StorageUnavailable.
        """
        span = f"bytes={first}-{'' if last is None else last}"
        try:
            resp = self.client.get_object(Bucket=self.name, Key=key, Range=span)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "get", key) from exc
        content_range = str(resp.get("ContentRange") or "")
        length = int(resp["ContentLength"])
        total = int(content_range.rpartition("/")[2]) if "/" in content_range else length
        return _TranslatingBody(resp["Body"], key), length, total

    def put_bytes(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write ``body``; conditional when asked. Returns the new ETag.

        ``if_none_match=True`` creates only if absent (AlreadyExists otherwise);
        ``if_match=etag`` replaces only that version (PreconditionFailed otherwise);
        ``metadata``: ``x-amz-meta-*`` headers, which a HEAD returns.
        """
        kwargs: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
        }
        if metadata:
            kwargs["Metadata"] = dict(metadata)
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            resp = self.client.put_object(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            error = _translate(exc, "put", key)
            if if_none_match and isinstance(error, PreconditionFailed):
                raise AlreadyExists(f"put {key!r}: the key already exists") from exc
            raise error from exc
        return resp["ETag"]

    def get_json(self, key: str) -> JsonDocument:
        """Read and parse a JSON object."""
        body, etag = self.get_bytes(key)
        try:
            return JsonDocument(json.loads(body), etag)
        except ValueError as exc:
            raise StorageError(f"get {key!r}: not valid JSON ({exc})") from exc

    def put_json(
        self, key: str, data: Any, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        """Write ``data`` as JSON; see :meth:`put_bytes` for the conditions."""
        body = json.dumps(data, indent=1, sort_keys=False).encode()
        return self.put_bytes(
            key,
            body,
            content_type="application/json",
            if_match=if_match,
            if_none_match=if_none_match,
        )

    def upload_file(self, path: Path, key: str, *, content_type: str = "video/mp4") -> str:
        """Upload a file (multipart above the threshold). Returns the ETag.

        Below the threshold it is one PUT whose answer carries the ETag (a poster, a
        preview, most clips: a HEAD and a transfer thread fewer)."""
        if path.stat().st_size < self._transfer.multipart_threshold:
            with path.open("rb") as body:
                try:
                    resp = self.client.put_object(
                        Bucket=self.name, Key=key, Body=body, ContentType=content_type
                    )
                except (ClientError, BotoCoreError) as exc:
                    raise _translate(exc, "upload", key) from exc
            return resp["ETag"]
        try:
            self.client.upload_file(
                str(path),
                self.name,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "upload", key) from exc
        except Exception as exc:  # boto3's S3UploadFailedError wraps the ClientError
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError | BotoCoreError):
                raise _translate(cause, "upload", key) from exc
            raise
        return self.head(key).etag

    def download_file(self, key: str, path: Path) -> Path:
        """Download ``key`` to ``path``: one GET streamed to a file beside it, renamed
        once whole (a stream cut or stalled mid-body is read again once); an object over
        the multipart threshold by parallel ranged GETs instead."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                if self._download_whole(key, path):
                    return path
                break  # a large object: the transfer manager's ranged GETs
            except _StreamCut as cut:
                if attempt == DOWNLOAD_ATTEMPTS - 1:
                    raise StorageUnavailable(
                        f"download {key!r}: the S3 endpoint stopped sending ({cut.__cause__})"
                    ) from cut.__cause__
        try:
            self.client.download_file(self.name, key, str(path), Config=self._transfer)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "download", key) from exc
        except (RetriesExceededError, Boto3RetriesExceeded) as exc:  # a stalled or cut stream
            raise StorageUnavailable(
                f"download {key!r}: the S3 endpoint stopped sending ({exc.__context__ or exc})"
            ) from exc
        return path

    def _download_whole(self, key: str, path: Path) -> bool:
        """``key`` into ``path`` by one GET; False, nothing written, for an object at or over
        the multipart threshold (as an upload of that size goes up in parts). A read that
        fails mid-body raises :class:`_StreamCut`."""
        try:
            resp = self.client.get_object(Bucket=self.name, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "download", key) from exc
        body = resp["Body"]
        if int(resp["ContentLength"]) >= self._transfer.multipart_threshold:
            body.close()
            return False
        part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            with part.open("wb") as out:
                try:
                    for chunk in iter(lambda: body.read(_CHUNK), b""):
                        out.write(chunk)
                except BotoCoreError as exc:  # cut, stalled, or shorter than it said
                    raise _StreamCut() from exc
                finally:
                    body.close()
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)
        return True

    def delete(self, key: str) -> None:
        """Delete ``key`` (no error if it is already gone)."""
        try:
            self.client.delete_object(Bucket=self.name, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "delete", key) from exc

    def delete_version(self, key: str, etag: str, *, conditional: bool = True) -> bool:
        """Delete ``key`` only while it is still the version with ``etag``.

        With ``conditional`` the store checks (``If-Match`` on DeleteObject: S3,
        moto); without it (R2) the object is read back and compared right before
        an unconditional delete. False, and nothing deleted, when the key holds
        another version (or is gone): a newer upload is never removed unread.
        """
        if conditional:
            try:
                self.client.delete_object(Bucket=self.name, Key=key, IfMatch=etag)
            except (ClientError, BotoCoreError) as exc:
                error = _translate(exc, "delete", key)
                if isinstance(error, PreconditionFailed | ObjectNotFound):
                    return False
                raise error from exc
            return True
        try:
            current = self.head(key).etag
        except ObjectNotFound:
            return False
        if current != etag:
            return False
        self.delete(key)
        return True

    def copy_version(self, source: str, etag: str, dest: str) -> str:
        """Server-side copy of ``source`` at version ``etag`` to ``dest``; PreconditionFailed
        when the source changed. Returns the copy's ETag."""
        try:
            resp = self.client.copy_object(
                Bucket=self.name,
                Key=dest,
                CopySource={"Bucket": self.name, "Key": source},
                CopySourceIfMatch=etag,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "copy", source) from exc
        return str(resp["CopyObjectResult"]["ETag"])

    def list(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, page by page (1,000 keys a request)."""
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in paginator.paginate(**kwargs):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        item["Key"], item["Size"], item["ETag"], item.get("LastModified")
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "list", prefix) from exc

    def folders(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        """The folders right under ``prefix`` (``{prefix}{name}/``) in key order, page by
        page (1,000 a request): a listing with a ``/`` delimiter, so a folder costs the
        same whatever it holds."""
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "Delimiter": "/"}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in paginator.paginate(**kwargs):
                for folder in page.get("CommonPrefixes", []):
                    yield folder["Prefix"]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "list", prefix) from exc

    def presigned_get(self, key: str, expires_s: int = 3600) -> str:
        """A URL anyone can GET ``key`` with until it expires."""
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.name, "Key": key}, ExpiresIn=expires_s
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "presign", key) from exc

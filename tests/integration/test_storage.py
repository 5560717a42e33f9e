"""Storage against a real moto S3 server: conditional writes, listing, transfers."""

from __future__ import annotations

import os
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.core.errors import (
    AlreadyExists,
    BucketNotFound,
    ObjectNotFound,
    PreconditionFailed,
    StorageUnavailable,
)
from pipeline.core.settings import Settings
from pipeline.storage.bucket import Bucket, make_s3_client
from tests.faults import Cut, FaultyProxy


def test_json_round_trip_returns_etags(bucket: Bucket) -> None:
    """put_json returns the ETag that get_json later reports."""
    etag = bucket.put_json("users/u/a.json", {"n": 1})
    doc = bucket.get_json("users/u/a.json")
    assert doc.data == {"n": 1}
    assert doc.etag == etag


def test_create_if_absent_refuses_the_second_writer(bucket: Bucket) -> None:
    """If-None-Match: * lets exactly one create through."""
    bucket.put_json("users/u/claim.json", {"who": "first"}, if_none_match=True)
    with pytest.raises(AlreadyExists):
        bucket.put_json("users/u/claim.json", {"who": "second"}, if_none_match=True)
    assert bucket.get_json("users/u/claim.json").data == {"who": "first"}


def test_compare_and_swap_refuses_a_stale_etag(bucket: Bucket) -> None:
    """If-Match with an old ETag is a 412, translated to PreconditionFailed."""
    first = bucket.put_json("users/u/s.json", {"v": 1})
    bucket.put_json("users/u/s.json", {"v": 2}, if_match=first)
    with pytest.raises(PreconditionFailed):
        bucket.put_json("users/u/s.json", {"v": 3}, if_match=first)
    assert bucket.get_json("users/u/s.json").data == {"v": 2}


def test_concurrent_creates_have_one_winner(bucket: Bucket) -> None:
    """Sixteen racing creators: one wins, fifteen get AlreadyExists."""

    def attempt(i: int) -> bool:
        try:
            bucket.put_json("users/u/race.json", {"i": i}, if_none_match=True)
        except AlreadyExists:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count(True) == 1


def test_listing_pages_past_one_thousand_keys(bucket: Bucket) -> None:
    """Listing follows continuation tokens beyond the 1,000-key page."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    keys = [f"users/u/many/{i:05d}" for i in range(2345)]
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]  # set-up straight into the emulator
    for key in keys[:-1]:
        backend.put_object(bucket.name, key, b"x")
    bucket.put_bytes(keys[-1], b"x")
    bucket.put_bytes("users/other/x", b"x")
    listed = [info.key for info in bucket.list("users/u/many/")]
    assert listed == keys


def test_missing_keys_and_buckets_raise_project_errors(bucket: Bucket, settings: Settings) -> None:
    """botocore errors never leak: they become ObjectNotFound / BucketNotFound."""
    with pytest.raises(ObjectNotFound):
        bucket.get_json("users/u/nothing.json")
    with pytest.raises(ObjectNotFound):
        bucket.head("users/u/nothing.json")
    assert not bucket.exists("users/u/nothing.json")
    other = Bucket(make_s3_client(settings), "no-such-bucket")
    with pytest.raises(BucketNotFound):
        other.get_bytes("x")


def test_a_bucket_likely_new_is_created_in_one_request_and_an_existing_one_kept(
    bucket: Bucket, settings: Settings
) -> None:
    """A store started empty gets its bucket by one CreateBucket, not a refused HEAD
    first; asked the same of a bucket that exists, it is left as it is."""
    sent: list[str] = []
    fresh = Bucket(make_s3_client(settings), "made-at-once")
    fresh.client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(request.method)
    )
    fresh.ensure_exists(settings.storage.region, likely_new=True)
    assert sent == ["PUT"]
    fresh.put_json("k.json", {"kept": True})
    fresh.ensure_exists(settings.storage.region, likely_new=True)
    assert fresh.get_json("k.json").data == {"kept": True}
    sent.clear()
    fresh.ensure_exists(settings.storage.region)
    assert sent == ["HEAD"]


def test_unreachable_endpoint_is_retryable(settings: Settings) -> None:
    """A dead endpoint is StorageUnavailable (retry later), not a crash."""
    dead = settings.replace(endpoint_url="http://127.0.0.1:9", s3_max_attempts=1)
    with pytest.raises(StorageUnavailable):
        Bucket(make_s3_client(dead), "b").head("x")


def test_large_uploads_are_multipart_and_download_intact(bucket: Bucket, tmp_path: Path) -> None:
    """Files over the threshold go up in parts and come back byte for byte."""
    data = os.urandom(12 * 1024**2)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    etag = bucket.upload_file(src, "users/u/big.bin", content_type="application/octet-stream")
    assert etag.strip('"').endswith("-2") or etag.strip('"').endswith("-3")
    back = bucket.download_file("users/u/big.bin", tmp_path / "back.bin")
    assert back.read_bytes() == data


def test_a_small_upload_is_one_put_whose_etag_is_the_stored_one(
    bucket: Bucket, tmp_path: Path
) -> None:
    """Below the multipart threshold: a single part (no ``-N`` suffix), the ETag the store
    reports afterwards, the content type kept, the bytes intact."""
    data = os.urandom(300_000)
    src = tmp_path / "poster.jpg"
    src.write_bytes(data)
    etag = bucket.upload_file(src, "users/u/poster.jpg", content_type="image/jpeg")
    stored = bucket.client.head_object(Bucket=bucket.name, Key="users/u/poster.jpg")
    assert etag == stored["ETag"] and "-" not in etag
    assert stored["ContentType"] == "image/jpeg"
    assert bucket.get_bytes("users/u/poster.jpg") == (data, etag)


def _cut_downloads(settings: Settings, key: str, times: int) -> tuple[FaultyProxy, Bucket]:
    """A bucket whose first ``times`` GETs of ``key`` are cut 20 KB into the response."""
    cuts = [times]

    def cut_gets(line: str) -> Cut | None:
        if line.startswith("GET ") and key in line and cuts[0] > 0:
            cuts[0] -= 1
            return Cut(20_000)
        return None

    port = int(str(settings.storage.endpoint_url).rsplit(":", 1)[1])
    proxy = FaultyProxy(port, cut_gets)
    proxied = settings.replace(endpoint_url=proxy.endpoint_url, s3_max_attempts=1)
    return proxy, Bucket(make_s3_client(proxied), settings.storage.bucket)


def test_a_download_cut_mid_body_is_read_again(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """The first GET's body stops at 20 KB of 400 KB: the second read gives the whole
    object, and only the finished file is left in the folder."""
    data = os.urandom(400_000)
    bucket.put_bytes("users/u/out.mp4", data)
    proxy, cut = _cut_downloads(settings, "users/u/out.mp4", times=1)
    try:
        got = cut.download_file("users/u/out.mp4", tmp_path / "out" / "output.mp4")
    finally:
        proxy.close()
    assert got.read_bytes() == data
    assert [p.name for p in got.parent.iterdir()] == ["output.mp4"]


def test_a_download_cut_each_time_is_unavailable_and_writes_nothing(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """Cut on both reads: a retryable StorageUnavailable, no file and no part left."""
    bucket.put_bytes("users/u/out.mp4", os.urandom(400_000))
    proxy, cut = _cut_downloads(settings, "users/u/out.mp4", times=2)
    try:
        with pytest.raises(StorageUnavailable, match="stopped sending"):
            cut.download_file("users/u/out.mp4", tmp_path / "out" / "output.mp4")
    finally:
        proxy.close()
    assert list((tmp_path / "out").iterdir()) == []


def test_presigned_get_serves_the_object(bucket: Bucket) -> None:
    """A presigned URL fetches the object without credentials."""
    bucket.put_bytes("users/u/hello.txt", b"hello")
    url = bucket.presigned_get("users/u/hello.txt", expires_s=60)
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"hello"


@pytest.mark.parametrize("conditional", [True, False])
def test_delete_version_removes_only_the_version_read(bucket: Bucket, conditional: bool) -> None:
    """With If-Match (S3, moto) or a read-back comparison (R2): a newer upload survives."""
    first = bucket.put_bytes("inbox/u/r.json", b"one")
    newer = bucket.put_bytes("inbox/u/r.json", b"two")
    assert not bucket.delete_version("inbox/u/r.json", first, conditional=conditional)
    assert bucket.get_bytes("inbox/u/r.json") == (b"two", newer)
    assert bucket.delete_version("inbox/u/r.json", newer, conditional=conditional)
    assert not bucket.exists("inbox/u/r.json")
    assert not bucket.delete_version("inbox/u/r.json", newer, conditional=conditional)


@pytest.mark.parametrize(("size", "limit"), [(0, 10), (10, 10), (11, 10), (5_000_000, 1000)])
def test_get_prefix_never_reads_more_than_the_limit(bucket: Bucket, size: int, limit: int) -> None:
    etag = bucket.put_bytes("inbox/u/big.json", b"x" * size)
    body, got_etag, total = bucket.get_prefix("inbox/u/big.json", limit)
    assert total == size and got_etag == etag
    assert body == b"x" * min(size, limit + 1)


def test_r2_endpoints_use_the_checked_delete() -> None:
    """R2 does not honour If-Match on DeleteObject: the read-back comparison is used there."""
    r2 = Settings(endpoint_url="https://acct.r2.cloudflarestorage.com")
    assert not r2.storage.uses_conditional_delete
    assert Settings(endpoint_url="http://127.0.0.1:9000").storage.uses_conditional_delete
    assert r2.replace(conditional_delete=True).storage.uses_conditional_delete

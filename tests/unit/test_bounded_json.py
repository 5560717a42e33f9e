"""JSON from outside is parsed within size and depth limits, whatever its shape."""

from __future__ import annotations

import json

import pytest

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.bounded_json import JsonRefused, loads_bounded, nesting_depth
from pipeline.manifests.job import parse_job_manifest


@pytest.mark.parametrize(
    ("document", "depth"),
    [
        (b"{}", 1),
        (b"[[[]]]", 3),
        (b'{"a": "[[[[[[", "b": [1, {"c": "}}}"}]}', 3),
        (b'["\\"[[[", ["\\\\"], "]"]', 2),
        (b'"just a string"', 0),
        (b"[" * 100_000 + b"]" * 100_000, 33),  # stops counting past the limit
    ],
)
def test_nesting_depth_ignores_brackets_inside_strings(document: bytes, depth: int) -> None:
    assert nesting_depth(document, 32) == depth


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 levels"),
        (b"{" + b'"a":{' * 50 + b"1" + b"}" * 51, "nested more than 32 levels"),
        (b'{"x": "' + b"a" * 300_000 + b'"}', "bytes; the limit is"),
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        ('{"a": "\ud800"}'.encode("utf-8", "surrogatepass"), "not valid JSON"),
    ],
)
def test_hostile_documents_are_refused_with_a_short_message(raw: bytes, message: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads_bounded(raw, max_bytes=256 * 1024, max_depth=32, what="the manifest")
    assert message in str(refused.value) and len(str(refused.value)) < 400


def test_a_document_within_the_limits_parses_as_json_does() -> None:
    doc = {"stages": {"framing": {"trim": {"start_s": 0, "end_s": 1}}}, "s": '[{"}]'}
    raw = json.dumps(doc).encode()
    assert loads_bounded(raw, max_bytes=len(raw), max_depth=4, what="x") == doc


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"{}",
        b"[]",
        b"null",
        b'{"stages": {"framing": {"trim": {"start_s": "nan", "end_s": 1e999}}}}',
        b'{"stages": {}, "schema_version": 99}',
    ],
)
def test_any_bad_manifest_is_an_invalid_manifest(raw: bytes) -> None:
    """Never a RecursionError, TypeError or ValueError out of the parser."""
    with pytest.raises(InvalidManifest):
        parse_job_manifest(raw)

"""JSON from outside (a manifest, a webhook body), parsed within limits.

``json.loads`` recurses once per nesting level: a document nested 100,000 deep
raises ``RecursionError``, which no ``ValueError`` handler catches. The size and
the nesting depth are checked first, in one linear pass over the bytes, so
every entry (CLI, inbox, webhook) refuses such input with a short message.

Example::

    doc = loads_bounded(body, max_bytes=1 << 20, max_depth=32, what="the webhook body")
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_MANIFEST_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32

# The only bytes that matter for nesting: brackets, quotes and backslashes.
_STRUCTURAL = re.compile(rb'[\\"\[\]{}]')


class JsonRefused(ValueError):
    """A JSON document that is too large, too deep or malformed."""


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def nesting_depth(raw: bytes, limit: int) -> int:
    """The deepest nesting of ``raw`` (brackets inside strings ignored); stops early
    past ``limit``, so a hostile document costs at most ``limit`` brackets of work."""
    depth = deepest = 0
    in_string = False
    skip = -1  # the position of a character escaped by a backslash
    for match in _STRUCTURAL.finditer(raw):
        pos = match.start()
        if pos == skip:
            continue
        char = raw[pos : pos + 1]
        if in_string:
            if char == b"\\":
                skip = pos + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def loads_bounded(raw: bytes | str, *, max_bytes: int, max_depth: int, what: str) -> Any:
    """Parse ``raw`` as JSON; JsonRefused (a ValueError) with a short message otherwise."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > max_bytes:
        raise JsonRefused(f"{what} is {len(data)} bytes; the limit is {max_bytes}")
    if nesting_depth(data, max_depth) > max_depth:
        raise JsonRefused(f"{what} is nested more than {max_depth} levels deep")
    try:
        # Strict RFC 8259: UTF-8, and no NaN/Infinity (Python's json accepts both).
        return json.loads(data.decode("utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc)
        raise JsonRefused(f"{what} is not valid JSON: {detail[:200]}") from None

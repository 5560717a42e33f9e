"""Known field names at a place in a model, for "did you mean" on a typo.

A manifest's unknown field (``framming``) is refused by ``extra="forbid"`` with
pydantic's "Extra inputs are not permitted". :func:`known_fields` finds the fields
the model allows where the typo sits, at any depth (through optional fields,
unions, lists and dicts), so the message can name the close match::

    known_fields(JobManifest, ["stages"])   # ["detect", "framing", "overlay", "upscale"]
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

Loc = Sequence[int | str]
SEQUENCES = (list, tuple, set, frozenset)


def known_fields(model: type[BaseModel], where: Loc) -> list[str]:
    """The field names (and aliases) allowed in the object at ``where`` inside ``model``."""
    found: list[Any] = [model]
    for part in where:
        found = [after for kind in found for after in _step(kind, part)]
    names: set[str] = set()
    for kind in found:
        for candidate in _unwrapped(kind):
            if _is_model(candidate):
                for name, field in candidate.model_fields.items():
                    names.add(field.alias or name)
    return sorted(names)


def close_match(model: type[BaseModel], loc: Loc) -> str | None:
    """The known field nearest the unknown one at ``loc`` (its last part), if any is close."""
    if not loc:
        return None
    matches = difflib.get_close_matches(str(loc[-1]), known_fields(model, loc[:-1]), n=1)
    return matches[0] if matches else None


def _step(kind: Any, part: int | str) -> list[Any]:
    """The types found one step down from ``kind`` at ``part``."""
    after: list[Any] = []
    for candidate in _unwrapped(kind):
        origin = typing.get_origin(candidate)
        args = [a for a in typing.get_args(candidate) if a is not Ellipsis]
        if _is_model(candidate) and isinstance(part, str):
            after.extend(
                field.annotation
                for name, field in candidate.model_fields.items()
                if part in (name, field.alias)
            )
        elif isinstance(origin, type) and issubclass(origin, Mapping):
            after.extend(args[1:2])
        elif isinstance(origin, type) and issubclass(origin, SEQUENCES) and isinstance(part, int):
            after.extend(args)
    return after


def _unwrapped(kind: Any) -> list[Any]:
    """``kind`` without Optional, Union and Annotated around it."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _unwrapped(typing.get_args(kind)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [inner for arg in typing.get_args(kind) for inner in _unwrapped(arg)]
    return [kind]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)

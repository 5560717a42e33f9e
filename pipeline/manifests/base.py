"""The base model every wire format shares, and readable validation messages."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.bounded_json import MAX_JSON_DEPTH, JsonRefused, loads_bounded
from pipeline.manifests.field_hints import close_match, known_fields

Model = TypeVar("Model", bound=BaseModel)


class WireModel(BaseModel):
    """Strict, immutable: unknown fields are errors, updates build a new model."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line per problem, each naming the field path, e.g. ``stages.framing.trim.end_s``.

    With the ``model`` that was validated, an unknown field close to a known one says
    which (``stages.framming: unknown field, did you mean 'framing'?``), and the
    "Field required" of the field it meant is left out: it is the same mistake."""
    errors = exc.errors(include_url=False, include_input=False)
    meant: dict[tuple[int | str, ...], str] = {}
    if model is not None:
        for err in errors:
            if err["type"] == "extra_forbidden":
                match = close_match(model, err["loc"])
                if match is not None:
                    meant[tuple(err["loc"])] = match
    covered = {(*loc[:-1], match) for loc, match in meant.items()}
    lines = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc in covered:
            continue
        path = ".".join(str(part) for part in loc) or "(document)"
        if loc in meant:
            lines.append(f"{path}: unknown field, did you mean {meant[loc]!r}?")
            continue
        message = err["msg"].removeprefix("Value error, ")
        known = known_fields(model, loc[:-1]) if model and err["type"] == "extra_forbidden" else []
        if known:
            message += f" (known here: {', '.join(known)})"
        lines.append(f"{path}: {message}")
    return "; ".join(lines)


def manifest_object(raw: bytes | str | dict[str, Any], *, max_bytes: int) -> dict[str, Any]:
    """An uploaded manifest as a JSON object; InvalidManifest when it is too large or
    deep, not JSON, or not an object (its size and depth checked before parsing)."""
    try:
        if isinstance(raw, bytes | str):
            data = loads_bounded(
                raw, max_bytes=max_bytes, max_depth=MAX_JSON_DEPTH, what="the manifest"
            )
        else:
            data = raw
    except JsonRefused as exc:
        raise InvalidManifest(str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidManifest("the manifest must be a JSON object")
    return data


def validated(model: type[Model], data: dict[str, Any], what: str) -> Model:
    """``data`` as ``model``; any problem is InvalidManifest naming the fields (``what``:
    "manifest", "reel manifest"): a manifest fails its job, never the worker."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidManifest(f"invalid {what}: {describe_validation_error(exc, model)}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        message = f"{type(exc).__name__}: {exc}"[:300]
        raise InvalidManifest(f"the {what} could not be validated ({message})") from None

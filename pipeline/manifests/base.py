"""The base model every wire format shares, and readable validation messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.manifests.field_hints import close_match, known_fields


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

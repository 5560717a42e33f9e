"""The base model every wire format shares, and readable validation messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class WireModel(BaseModel):
    """Strict, immutable: unknown fields are errors, updates build a new model."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path, e.g. ``stages.framing.trim.end_s``."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in err["loc"]) or "(document)"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {message}")
    return "; ".join(lines)

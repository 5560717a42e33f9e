"""Stage calls as plain JSON: what crosses a process or a Modal function boundary.

Requests and results carry keys and parameters only, never media. A job error
raised remotely comes back as data (so the platform does not retry it) and is
raised again, as the same type, on the caller's side; so does a lost lease (the
run must stop, and retrying it elsewhere would be wrong).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from pipeline.core.errors import ErrorKind, JobCancelled, JobError, LeaseLost, StageInterrupted
from pipeline.stages.base import AnyStageRequest, StageResult
from pipeline.stages.table import spec_for

_REQUEST: TypeAdapter[AnyStageRequest] = TypeAdapter(AnyStageRequest)
_RESULT: TypeAdapter[StageResult] = TypeAdapter(StageResult)


def request_to_wire(request: AnyStageRequest) -> dict[str, Any]:
    """A JSON-ready stage request (pydantic's own dump of the dataclass)."""
    wire: dict[str, Any] = _REQUEST.dump_python(request, mode="json")
    return wire


def request_from_wire(wire: dict[str, Any]) -> AnyStageRequest:
    """The request back from JSON, its parameters validated by the stage's own model
    (the stage table's), exactly as in a manifest."""
    request = _REQUEST.validate_python(wire)
    params = spec_for(request.stage).params.model_validate(request.params)
    return dataclasses.replace(request, params=params)


def result_to_wire(result: StageResult) -> dict[str, Any]:
    """A JSON-ready stage result."""
    wire: dict[str, Any] = _RESULT.dump_python(result, mode="json")
    return wire


def group_to_wire(requests: Sequence[AnyStageRequest]) -> dict[str, Any]:
    """A fused group of stage requests as one JSON call."""
    return {"group": [request_to_wire(r) for r in requests]}


def is_group(wire: dict[str, Any]) -> bool:
    """Whether a call carries a fused group (else one request)."""
    return "group" in wire


def group_from_wire(wire: dict[str, Any]) -> list[AnyStageRequest]:
    """The group's requests back from JSON, each validated as :func:`request_from_wire`."""
    return [request_from_wire(r) for r in wire["group"]]


def results_to_wire(results: Sequence[StageResult]) -> dict[str, Any]:
    """A fused group's results as JSON."""
    return {"results": [result_to_wire(r) for r in results]}


def results_from_wire(wire: dict[str, Any]) -> list[StageResult]:
    """A fused group's results back from JSON; a remote job error is raised here."""
    if "results" not in wire:
        result_from_wire(wire)  # raises the error it carries
        raise ValueError("a group call returned a single result")
    return [_RESULT.validate_python(r) for r in wire["results"]]


def error_to_wire(
    error: JobError | LeaseLost | JobCancelled | StageInterrupted,
) -> dict[str, Any]:
    """A job error (or a lost lease, a cancel request seen, a stop heard) as data."""
    if isinstance(error, LeaseLost):
        return {"lease_lost": str(error)}
    if isinstance(error, JobCancelled):
        return {"cancelled": str(error)}
    if isinstance(error, StageInterrupted):
        return {"interrupted": str(error)}
    return {"error": {"kind": error.kind.value, "message": str(error), "stage": error.stage}}


def is_failure(wire: dict[str, Any]) -> bool:
    """Whether a call's answer is one of :func:`error_to_wire`'s, not a result."""
    return any(key in wire for key in ("lease_lost", "cancelled", "interrupted", "error"))


class RemoteJobError(JobError):
    """A job error raised by a stage that ran elsewhere."""

    def __init__(self, kind: ErrorKind, message: str, stage: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.stage = stage


def result_from_wire(wire: dict[str, Any]) -> StageResult:
    """The result back from JSON; a remote job error is raised here."""
    if "lease_lost" in wire:
        raise LeaseLost(str(wire["lease_lost"]))
    if "cancelled" in wire:
        raise JobCancelled(str(wire["cancelled"]))
    if "interrupted" in wire:
        raise StageInterrupted(str(wire["interrupted"]))
    if "error" in wire:
        error = wire["error"]
        raise RemoteJobError(ErrorKind(error["kind"]), error["message"], error.get("stage"))
    return _RESULT.validate_python(wire)

"""Calls as plain JSON: what crosses a process or a Modal function boundary.

One shape for every call (a single stage, a fused group, a segment, a join, a reel's
assembly): ``{"call": [request, ...]}`` (with its ``join``, ``cut`` or ``assembly``) in,
``{"results": [result, ...]}`` out. Requests and results
carry keys and parameters only, never media. A job error raised remotely comes back as
data (so the platform does not retry it) and is raised again, as the same type, on the
caller's side; so does a lost lease (the run must stop, and retrying it elsewhere would
be wrong).

Example::

    wire = call_to_wire(Call.of(framing, overlay))
    results = results_from_wire(function.remote(wire))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from pipeline.core.errors import ErrorKind, JobCancelled, JobError, LeaseLost, StageInterrupted
from pipeline.stages.base import AnyStageRequest, Assembly, Call, Cut, Join, StageResult
from pipeline.stages.table import spec_for

_REQUEST: TypeAdapter[AnyStageRequest] = TypeAdapter(AnyStageRequest)
_RESULT: TypeAdapter[StageResult] = TypeAdapter(StageResult)
_JOIN: TypeAdapter[Join] = TypeAdapter(Join)
_CUT: TypeAdapter[Cut] = TypeAdapter(Cut)
_ASSEMBLY: TypeAdapter[Assembly] = TypeAdapter(Assembly)


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


def call_to_wire(call: Call) -> dict[str, Any]:
    """A call as one JSON object (its join, its cut or its assembly, when it is one,
    beside its requests)."""
    wire: dict[str, Any] = {"call": [request_to_wire(r) for r in call.requests]}
    if call.join is not None:
        wire["join"] = _JOIN.dump_python(call.join, mode="json")
    if call.cut is not None:
        wire["cut"] = _CUT.dump_python(call.cut, mode="json")
    if call.assembly is not None:
        wire["assembly"] = _ASSEMBLY.dump_python(call.assembly, mode="json")
    return wire


def call_from_wire(wire: dict[str, Any]) -> Call:
    """The call back from JSON, each request validated as :func:`request_from_wire`."""
    join = _JOIN.validate_python(wire["join"]) if "join" in wire else None
    cut = _CUT.validate_python(wire["cut"]) if "cut" in wire else None
    assembly = _ASSEMBLY.validate_python(wire["assembly"]) if "assembly" in wire else None
    requests = tuple(request_from_wire(r) for r in wire["call"])
    return Call(requests, join=join, cut=cut, assembly=assembly)


def results_to_wire(results: Sequence[StageResult]) -> dict[str, Any]:
    """A call's results (one per stage, in order) as JSON."""
    return {"results": [_RESULT.dump_python(r, mode="json") for r in results]}


def results_from_wire(wire: dict[str, Any]) -> list[StageResult]:
    """A call's results back from JSON; a remote job error (a lost lease, a cancel, a
    stop) is raised here."""
    raise_carried(wire)
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
    """Whether a call's answer is one of :func:`error_to_wire`'s, not its results."""
    return any(key in wire for key in ("lease_lost", "cancelled", "interrupted", "error"))


class RemoteJobError(JobError):
    """A job error raised by a stage that ran elsewhere."""

    def __init__(self, kind: ErrorKind, message: str, stage: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.stage = stage


def raise_carried(wire: dict[str, Any]) -> None:
    """Raise the error a call's answer carries, as its own type; nothing for results."""
    if "lease_lost" in wire:
        raise LeaseLost(str(wire["lease_lost"]))
    if "cancelled" in wire:
        raise JobCancelled(str(wire["cancelled"]))
    if "interrupted" in wire:
        raise StageInterrupted(str(wire["interrupted"]))
    if "error" in wire:
        error = wire["error"]
        raise RemoteJobError(ErrorKind(error["kind"]), error["message"], error.get("stage"))

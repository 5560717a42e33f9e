"""Stage calls as plain JSON: what crosses a process or a Modal function boundary.

Requests and results carry keys and parameters only, never media. A job error
raised remotely comes back as data (so the platform does not retry it) and is
raised again, as the same type, on the caller's side; so does a lost lease (the
run must stop, and retrying it elsewhere would be wrong).
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import ErrorKind, JobError, LeaseLost
from pipeline.manifests.job import StageName, Stages
from pipeline.manifests.status import Fence
from pipeline.stages.base import ProgressShare, Segment, StageRequest, StageResult


def request_to_wire(request: StageRequest) -> dict[str, Any]:
    """A JSON-ready stage request."""
    return {
        "user_id": request.user_id,
        "job_id": request.job_id,
        "stage": request.stage.value,
        "video_key": request.video_key,
        "params": request.params.model_dump(mode="json"),
        "final": request.final,
        "upstream": {k.value: dict(v) for k, v in request.upstream.items()},
        "share": [request.share.start, request.share.width],
        "segment": None if request.segment is None else vars(request.segment).copy(),
        "fence": None if request.fence is None else vars(request.fence).copy(),
    }


def request_from_wire(wire: dict[str, Any]) -> StageRequest:
    """The request back from JSON."""
    stage = StageName(wire["stage"])
    # The stage's own parameter model, validated exactly as in a manifest.
    model = getattr(Stages.model_validate({stage.value: wire["params"]}), stage.value)
    start, width = wire.get("share", [0.0, 1.0])
    segment = wire.get("segment")
    fence = wire.get("fence")
    return StageRequest(
        user_id=wire["user_id"],
        job_id=wire["job_id"],
        stage=stage,
        video_key=wire["video_key"],
        params=model,
        final=bool(wire["final"]),
        upstream={StageName(k): dict(v) for k, v in wire.get("upstream", {}).items()},
        share=ProgressShare(float(start), float(width)),
        segment=None if segment is None else Segment(**{k: int(v) for k, v in segment.items()}),
        fence=None if fence is None else Fence(str(fence["owner"]), int(fence["epoch"])),
    )


def result_to_wire(result: StageResult) -> dict[str, Any]:
    """A JSON-ready stage result."""
    return {
        "outputs": result.outputs,
        "frames": result.frames,
        "backend": result.backend,
        "gpu_seconds": result.gpu_seconds,
        "warnings": list(result.warnings),
        "details": dict(result.details),
    }


def error_to_wire(error: JobError | LeaseLost) -> dict[str, Any]:
    """A job error (or a lost lease) as data."""
    if isinstance(error, LeaseLost):
        return {"lease_lost": str(error)}
    return {"error": {"kind": error.kind.value, "message": str(error)}}


class RemoteJobError(JobError):
    """A job error raised by a stage that ran elsewhere."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def result_from_wire(wire: dict[str, Any]) -> StageResult:
    """The result back from JSON; a remote job error is raised here."""
    if "lease_lost" in wire:
        raise LeaseLost(str(wire["lease_lost"]))
    if "error" in wire:
        raise RemoteJobError(ErrorKind(wire["error"]["kind"]), wire["error"]["message"])
    return StageResult(
        outputs=dict(wire["outputs"]),
        frames=int(wire["frames"]),
        backend=str(wire["backend"]),
        gpu_seconds=float(wire.get("gpu_seconds", 0.0)),
        warnings=tuple(str(w) for w in wire.get("warnings", [])),
        details=dict(wire.get("details", {})),
    )

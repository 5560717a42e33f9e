"""The status manifest reelpipe keeps at ``users/{user_id}/jobs/{job_id}/status.json``.

Apps poll it for state, progress, outputs, timings and errors. Every update
builds a new model (they are frozen) and is written compare-and-swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from pipeline import PIPELINE_VERSION
from pipeline.core.errors import ErrorKind, LeaseLost
from pipeline.manifests.base import WireModel
from pipeline.manifests.job import CallbackEvent, Notify, StageName


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    WAITING_FOR_INPUT = "waiting_for_input"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the terminal states."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobKind(StrEnum):
    """What a job makes: one clip's output, or a reel cut from the jobs of its clips."""

    CLIP = "clip"
    REEL = "reel"


class StageState(StrEnum):
    """Where one stage of a job is."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Progress(WireModel):
    """Overall progress: 0-100 with what is happening now."""

    percent: float = Field(0.0, ge=0, le=100)
    message: str = ""


class ErrorInfo(WireModel):
    """Why a job failed, for people: a kind to branch on and a message to show."""

    kind: ErrorKind
    message: str
    stage: StageName | None = None


class StageStatus(WireModel):
    """One stage's part of the status."""

    state: StageState = StageState.PENDING
    progress: float = Field(0.0, ge=0, le=100)
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = Field(None, description="the stage's wall time, once finished")
    plan_s: float | None = Field(
        None,
        description="the planner's estimate of duration_s where the stage runs, written when "
        "the run starts: the two side by side show how far the estimates drift",
    )
    frames: int | None = None
    fps: float | None = None
    backend: str | None = None
    outputs: dict[str, str] = Field(default_factory=dict)
    gpu_seconds: float = 0.0
    cpu_seconds: float = Field(0.0, description="core-seconds: reserved on Modal, used locally")
    memory_gib_seconds: float = Field(0.0, description="reserved memory x seconds")
    startup_s: float = Field(0.0, description="container start billed with the stage's calls")
    cost_usd: float = Field(0.0, description="the stage's GPU, CPU and memory at the rates")
    workers: int = Field(1, ge=1, description="segments run in parallel for this stage")
    segments: list[float] = Field(
        default_factory=list, description="each segment's progress (0-100) while they run"
    )
    cache_key: str | None = Field(
        None, description="stage version + input ETag + params: equal keys mean equal outputs"
    )
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="what the stage decided, for apps: the overlay's picked player, "
        "per-second coverage (found, coasted, lost), the share of frames he was lit (lit), "
        "the poster's best_frame and the preview_window",
    )


class StepStatus(WireModel):
    """The ledger line of a call that serves no stage (a reel's assembly)."""

    duration_s: float = Field(0.0, description="the call's wall time, its attempts together")
    gpu_seconds: float = 0.0
    cpu_seconds: float = Field(0.0, description="core-seconds: reserved on Modal, used locally")
    memory_gib_seconds: float = Field(0.0, description="reserved memory x seconds")
    startup_s: float = Field(0.0, description="container start billed with the call")
    cost_usd: float = Field(0.0, description="its GPU, CPU and memory at the rates")
    cache_key: str | None = Field(
        None, description="what it was made from: equal keys mean its outputs can be reused"
    )
    outputs: dict[str, str] = Field(default_factory=dict, description="what it wrote, by label")


class Notification(WireModel):
    """One callback event's delivery: how many tries, the receiver's last answer."""

    event: CallbackEvent
    webhook_id: str = Field(description="the webhook-id header: the same on every retry")
    attempts: int = 0
    last_http_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    gave_up: bool = False


class LeaseKind(StrEnum):
    """What a lease protects."""

    CLAIM = "claim"  # claimed and queued: no other scan may resume it; any worker may start it
    RUN = "run"  # a worker is running it: nobody else may until it expires


class Lease(WireModel):
    """Who holds the job, until when. An expired lease means the holder died."""

    owner: str
    expires_at: datetime
    kind: LeaseKind = LeaseKind.RUN

    def expired(self, now: datetime) -> bool:
        """True once ``expires_at`` has passed."""
        return now >= self.expires_at


class RunCounts(WireModel):
    """How the job's runs went: the fencing token and the tallies the worker limits read."""

    epoch: int = Field(
        0,
        ge=0,
        description="fencing token: +1 each time a worker takes the job; a write from an "
        "older epoch is refused, so a worker that lost the job never writes again",
    )
    deaths: int = Field(0, ge=0, description="runs whose lease expired (killed, OOM, partition)")
    crashes: int = Field(0, ge=0, description="runs that ended in an unexpected error")
    handbacks: int = Field(0, ge=0, description="graceful stops that handed the job back")


class StatusManifest(WireModel):
    """The state of one job, as apps read it."""

    schema_version: int = 1
    job_id: str
    user_id: str
    request_key: str | None = None
    replaces: str | None = Field(
        None, description="the job this request's id named before this upload (uploaded again)"
    )
    superseded_by: str | None = Field(
        None, description="the job a later upload under the same request id became"
    )
    manifest_key: str
    input_key: str | None = None
    kind: JobKind = Field(
        JobKind.CLIP, description="reel: a reel's job, its clips made by jobs of their own"
    )
    state: JobState = JobState.QUEUED
    progress: Progress = Progress(percent=0.0, message="queued")
    stages: dict[StageName, StageStatus] = Field(default_factory=dict)
    steps: dict[str, StepStatus] = Field(
        default_factory=dict,
        description="calls that serve no stage, each with its ledger line: a reel's assembly",
    )
    outputs: dict[str, str] = Field(default_factory=dict)
    output_key: str | None = None
    error: ErrorInfo | None = None
    pipeline_version: str = PIPELINE_VERSION
    attempts: int = 0
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    gpu_seconds: float = 0.0
    cpu_seconds: float = Field(0.0, description="core-seconds of every stage and the orchestrator")
    memory_gib_seconds: float = 0.0
    cost_usd: float = Field(
        0.0,
        description="measured: GPU, CPU and memory seconds of every stage (container starts "
        "included) and of the orchestrator, at the configured rates",
    )
    estimated_cost_usd: float | None = Field(
        None, description="the planner's estimate when the job started"
    )
    lease: Lease | None = None
    runs: RunCounts = RunCounts()
    warnings: list[str] = Field(
        default_factory=list, description="what was adjusted rather than refused (a clamped trim)"
    )
    waiting_since: datetime | None = None
    cancel_requested_at: datetime | None = Field(
        None, description="the owner asked to cancel: the running stage stops at a frame boundary"
    )
    notify: Notify | None = Field(None, description="the manifest's callback target")
    notifications: list[Notification] = Field(
        default_factory=list, description="completion callbacks and how their delivery went"
    )


@dataclass(frozen=True)
class Fence:
    """The lease a worker took a job with: its owner name and the job's epoch then."""

    owner: str
    epoch: int

    def check(self, status: StatusManifest) -> None:
        """LeaseLost unless ``status`` still shows this worker's lease at this epoch."""
        lease = status.lease
        if status.runs.epoch != self.epoch or lease is None or lease.owner != self.owner:
            holder = lease.owner if lease is not None else "nobody"
            raise LeaseLost(
                f"job {status.job_id}: lease epoch {self.epoch} of {self.owner} is over "
                f"(now epoch {status.runs.epoch}, held by {holder}, state {status.state.value})"
            )

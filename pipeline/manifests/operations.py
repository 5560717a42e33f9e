"""What the operator's API answers: job pages, the summary, the rollups behind it.

These are the response models of ``/v1/...`` (so ``/openapi.json`` documents them) and
the documents of the operations index the workers write at each job's end
(``index/hourly/...``, ``index/daily/...``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pipeline.manifests.base import WireModel
from pipeline.manifests.status import StatusManifest

MAX_STAGE_SAMPLES = 200  # durations kept per stage and rollup, for the percentiles


class Rollup(WireModel):
    """The jobs that finished in one hour or one day, added up."""

    period: str = Field(description="YYYY-MM-DDTHH (an hour, UTC) or YYYY-MM-DD (a day)")
    jobs: int = 0
    by_state: dict[str, int] = Field(default_factory=dict)
    gpu_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cost_usd: float = 0.0
    stage_seconds: dict[str, list[float]] = Field(
        default_factory=dict, description=f"the last {MAX_STAGE_SAMPLES} durations per stage"
    )


class WindowTotals(WireModel):
    """Jobs finished in a window and what they used."""

    jobs: int = 0
    by_state: dict[str, int] = Field(default_factory=dict)
    gpu_seconds: float = 0.0
    cpu_seconds: float = 0.0
    cost_usd: float = 0.0


class StageDurations(WireModel):
    """How long a stage took over the last 24 hours."""

    samples: int
    p50_s: float
    p95_s: float


class Summary(WireModel):
    """``GET /v1/summary``."""

    generated_at: datetime
    unfinished: dict[str, int] = Field(description="jobs not finished, by state, now")
    last_24h: WindowTotals
    last_7d: WindowTotals = Field(description="today and the 6 days before (UTC)")
    per_hour_24h: float = Field(description="jobs finished an hour, over the last 24 hours")
    stages: dict[str, StageDurations] = Field(default_factory=dict)
    requests: int = Field(description="S3 requests this answer took")


class JobItem(WireModel):
    """One job of a page: its status, and a link to its poster (presigned) if it has one."""

    status: StatusManifest
    poster_url: str | None = None


class JobPage(WireModel):
    """``GET /v1/jobs``: unfinished jobs first, then finished ones, newest first."""

    jobs: list[JobItem]
    next_cursor: str | None = None
    requests: int = Field(description="S3 requests this page took")


class JobLinks(WireModel):
    """Presigned GETs of what a job made."""

    output_url: str | None = None
    poster_url: str | None = None
    preview_url: str | None = None
    expires_s: int


class Cancelled(WireModel):
    """``POST .../cancel``."""

    job_id: str
    state: str
    changed: bool
    message: str

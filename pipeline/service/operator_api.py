"""The operator's HTTP API and dashboard, on the same FastAPI app as the webhook.

    GET  /                                   the dashboard (HTML; its data comes from the API)
    GET  /v1/jobs?user=&state=&since=&limit=&cursor=&unfinished=
    GET  /v1/jobs/{user}/{job_id}            the status manifest
    GET  /v1/jobs/{user}/{job_id}/links      presigned GETs of output, poster, preview
    POST /v1/jobs/{user}/{job_id}/cancel
    GET  /v1/summary

Every ``/v1`` call needs ``Authorization: Bearer <REELPIPE_API_TOKEN>``, from loopback
too: a loopback client may be a hostile page in the operator's browser, or a callback
``serve`` itself sends. ``reelpipe serve`` generates a token when none is configured and
prints the dashboard's link with it (``/#token=...``); an app deployed without one answers
nobody. The page and its assets need no token: they hold no data. The webhook keeps its
own signature scheme; ``pipeline.service.request_origin`` checks ``Host`` and ``Origin``
before any of this runs.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from pipeline.client.app_client import JobNotFound, ReelpipeClient
from pipeline.core.errors import InvalidKey, InvalidQuery, ObjectNotFound
from pipeline.manifests.operations import Cancelled, JobLinks, JobPage, Summary
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.service.api_contract import (
    ACCESS_ERRORS,
    BAD_REQUEST,
    JOB_ERRORS,
    JobId,
    UserFilter,
    UserId,
)
from pipeline.service.operations import Operations
from pipeline.storage.bucket import Bucket

SUMMARY_CACHE_S = 5.0  # the dashboard polls; the rollups change at each job's end only
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> str:
    return resources.files("pipeline.service").joinpath("dashboard", name).read_text("utf-8")


def operator_guard(token: str | None) -> Callable[[Request], None]:
    """The dependency every ``/v1`` route has: the bearer token (none configured: 403)."""

    def guard(request: Request) -> None:
        if not token:
            raise HTTPException(403, "REELPIPE_API_TOKEN is not set: the API answers nobody")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise HTTPException(
                401,
                "a bearer token is required: open the dashboard link `reelpipe serve` printed "
                "(/#token=...), or send Authorization: Bearer <REELPIPE_API_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return guard


class _SummaryCache:
    """The last summary, for ``SUMMARY_CACHE_S``."""

    def __init__(self) -> None:
        self.value: Summary | None = None
        self.at = 0.0
        self.lock = threading.Lock()

    def get(self, make: Callable[[], Summary]) -> Summary:
        with self.lock:
            if self.value is None or time.monotonic() - self.at > SUMMARY_CACHE_S:
                self.value, self.at = make(), time.monotonic()
            return self.value


def add_operator_routes(app: FastAPI, bucket: Bucket, api_token: str | None) -> None:
    """Mount the dashboard and the ``/v1`` API on ``app``."""
    router = APIRouter(
        prefix="/v1", dependencies=[Depends(operator_guard(api_token))], responses=ACCESS_ERRORS
    )
    cache = _SummaryCache()

    @router.get("/jobs", response_model=JobPage, responses=BAD_REQUEST)
    def jobs(
        user: UserFilter = None,
        state: JobState | None = None,
        since: date | datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
        unfinished: bool = False,
    ) -> JobPage:
        """Jobs: one user's newest first, or everyone's (unfinished first); ``unfinished``:
        only the jobs not finished yet (cheap: the active index, for live views)."""
        when = _moment(since)
        try:
            return Operations(bucket).jobs(
                user=user or None,
                state=state,
                since=when,
                limit=limit,
                cursor=cursor,
                unfinished=unfinished,
            )
        except (InvalidKey, InvalidQuery) as exc:
            raise HTTPException(400, str(exc)) from None

    @router.get("/jobs/{user}/{job_id}", response_model=StatusManifest, responses=JOB_ERRORS)
    def job(user: UserId, job_id: JobId) -> StatusManifest:
        """The job's status manifest."""
        try:
            return Operations(bucket).job(user, job_id)
        except InvalidKey as exc:
            raise HTTPException(400, str(exc)) from None
        except ObjectNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @router.get("/jobs/{user}/{job_id}/links", response_model=JobLinks, responses=JOB_ERRORS)
    def links(
        user: UserId, job_id: JobId, expires_s: Annotated[int, Query(ge=60, le=86400)] = 3600
    ) -> JobLinks:
        """Presigned GETs of the job's output, poster and preview."""
        try:
            return Operations(bucket).links(user, job_id, expires_s)
        except InvalidKey as exc:
            raise HTTPException(400, str(exc)) from None
        except ObjectNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @router.post("/jobs/{user}/{job_id}/cancel", response_model=Cancelled, responses=JOB_ERRORS)
    def cancel(user: UserId, job_id: JobId) -> Cancelled:
        """Cancel the job (a finished one is left as it is)."""
        try:
            outcome = ReelpipeClient(bucket, user).cancel(job_id)
        except InvalidKey as exc:
            raise HTTPException(400, str(exc)) from None
        except JobNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return Cancelled(
            job_id=job_id,
            state=outcome.status.state.value,
            changed=outcome.changed,
            message=outcome.message,
        )

    @router.get("/summary", response_model=Summary)
    def summary() -> Summary:
        """Jobs by state; 24 h and 7 d totals; stage p50/p95 durations."""
        return cache.get(lambda: Operations(bucket).summary())

    app.include_router(router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, "no such file")
        return Response(_asset(name), media_type=ASSETS[name])


def _moment(since: date | datetime | None) -> datetime | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    return datetime(since.year, since.month, since.day, tzinfo=UTC)

"""The webhook as an ASGI app (FastAPI), served locally by ``reelpipe serve``
and on Modal by ``@modal.asgi_app``; with a bucket, also the operator's dashboard and
API (``pipeline.service.operator_api``).

    POST /events      an R2 or S3 event notification, signed (see pipeline.service.webhook)
    GET  /healthz     liveness
    GET  /, /v1/...   the dashboard and the operator's API (bearer token)

Given the ``ServedHosts``, a request whose ``Host`` does not name this server is answered
421 (but ``/events``, which is signed, and ``/healthz``); a write to ``/v1`` from another
site's page is answered 403 (``pipeline.service.request_origin``).

A request costs nothing before it is authenticated: the body is read as a
stream up to ``max_body_bytes`` (413 beyond, whatever ``Content-Length``
says), the signature is checked on the event loop, and only then do claims
run, on their own small thread pool behind a bounded queue (503 with
``Retry-After`` when it is full). An unsigned request never waits for a claim.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.core.errors import bounded_message
from pipeline.service.operator_api import add_operator_routes
from pipeline.service.request_origin import RequestOriginGuard, ServedHosts
from pipeline.service.webhook import (
    MAX_BODY_BYTES,
    WebhookError,
    WebhookResult,
    WebhookTooLarge,
    authenticated_keys,
)

RETRY_AFTER_S = 5

if TYPE_CHECKING:
    from pipeline.storage.bucket import Bucket


class ClaimQueue:
    """Claims run on ``threads`` threads; at most ``capacity`` wait or run at once."""

    def __init__(self, claim_key: Callable[[str], object], threads: int, capacity: int) -> None:
        self._claim_key = claim_key
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="claim")
        self._slots = threading.BoundedSemaphore(capacity)

    def submit(self, keys: list[str]) -> list[Future[object]] | None:
        """Queue one claim per key; None (nothing queued) when the queue is full."""
        for taken in range(len(keys)):
            if not self._slots.acquire(blocking=False):
                for _ in range(taken):
                    self._slots.release()
                return None
        futures = [self._pool.submit(self._claim_key, key) for key in keys]
        for future in futures:
            future.add_done_callback(lambda _f: self._slots.release())
        return futures

    def shutdown(self) -> None:
        """Stop taking claims; the ones queued finish."""
        self._pool.shutdown(wait=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read as a stream; WebhookTooLarge past ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise WebhookTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise WebhookTooLarge(f"the body is over the {limit}-byte limit")
    return bytes(body)


def create_app(
    secret: str,
    claim_key: Callable[[str], object],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    claim_threads: int = 4,
    claim_queue: int = 64,
    bucket: Bucket | None = None,
    api_token: str | None = None,
    served_hosts: ServedHosts | None = None,
) -> FastAPI:
    """An app that claims the inbox manifests named by signed event notifications, and
    (given the ``bucket``) serves the operator's dashboard and API; ``served_hosts``: the
    ``Host`` values it answers (None: any)."""
    app = FastAPI(title="reelpipe", docs_url=None, redoc_url=None)
    app.add_middleware(RequestOriginGuard, served=served_hosts)
    if bucket is not None:
        add_operator_routes(app, bucket, api_token)
    claims = ClaimQueue(claim_key, claim_threads, claim_queue)
    app.state.claims = claims

    @app.post("/events")
    async def events(request: Request) -> JSONResponse:
        try:
            body = await read_body(request, max_body_bytes)
            inbox, ignored = authenticated_keys(
                secret, request.headers, body, max_body_bytes=max_body_bytes
            )
        except WebhookError as exc:
            headers = {"Connection": "close"} if isinstance(exc, WebhookTooLarge) else None
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code, headers=headers)
        futures = claims.submit(inbox)
        if futures is None:
            return JSONResponse(
                {"error": "too many claims in progress; retry later"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        outcomes = await asyncio.gather(
            *(asyncio.wrap_future(f) for f in futures), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # the store failed: the sender retries, and the scan catches up anyway
            return JSONResponse(
                {"error": f"claiming failed: {bounded_message(str(failures[0]), 300)}"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        result = WebhookResult(
            claimed=[k for k, job in zip(inbox, outcomes, strict=True) if job is not None],
            ignored=ignored,
        )
        return JSONResponse(result.as_json())

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app

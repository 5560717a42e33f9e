"""The webhook as an ASGI app (FastAPI), served locally by ``reelpipe serve``
and on Modal by ``@modal.asgi_app``/``fastapi_endpoint``.

    POST /events      an R2 or S3 event notification, signed (see pipeline.webhook)
    GET  /healthz     liveness
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.webhook import WebhookError, handle_event


def create_app(secret: str, claim_key: Callable[[str], object]) -> FastAPI:
    """An app that claims the inbox manifests named by signed event notifications."""
    app = FastAPI(title="reelpipe webhook", docs_url=None, redoc_url=None)

    @app.post("/events")
    async def events(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            # Claims are blocking S3 calls: keep them off the event loop.
            result = await asyncio.to_thread(
                handle_event, secret, dict(request.headers), body, claim_key
            )
        except WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        return JSONResponse(result.as_json())

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True}

    return app

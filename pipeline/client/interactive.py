"""The interactive detection calls, for an app's async backend: deployed on Modal or run
here, with the same requests and answers either way, and the project's errors.

With ``settings.modal.enabled`` (``REELPIPE_MODAL=1``) each call goes to the deployed function
(``detect_players_modal`` / ``detect_ball_modal`` of ``REELPIPE_MODAL_APP``), looked up
once per process with ``modal.Function.from_name``; otherwise the same code runs in this
process against the bucket. Either way the blocking work runs in a thread
(``asyncio.to_thread``), so the event loop keeps serving other requests.

Example (a FastAPI endpoint)::

    @app.post("/detect-players")
    async def players(body: PlayersRequest) -> dict:
        return await detect_players(settings, body.user_id, body.video_key, body.frame)
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from pipeline.core.errors import ReelpipeError, RetryableError
from pipeline.core.settings import Settings
from pipeline.stages import interactive
from pipeline.storage.bucket import Bucket, open_bucket

PLAYERS_FUNCTION = "detect_players_modal"
BALL_FUNCTION = "detect_ball_modal"


class RemoteUnavailable(RetryableError):
    """The deployed function could not be reached (not deployed, no Modal credentials,
    the network): nothing about the request itself."""


async def detect_players(
    settings: Settings,
    user_id: str,
    input_key: str,
    frame_number: int = 0,
    confidence_threshold: float = 0.5,
    *,
    bucket: Bucket | None = None,
) -> dict[str, Any]:
    """The players on one frame: ``{"status": "success", "detections": [...], ...}``."""
    args = (user_id, input_key, frame_number, confidence_threshold)
    if settings.modal.enabled:
        return await _remote(settings.modal.app, PLAYERS_FUNCTION, *args)
    target = bucket or open_bucket(settings)
    return await asyncio.to_thread(interactive.detect_players, target, settings, *args)


async def detect_ball(
    settings: Settings,
    user_id: str,
    input_key: str,
    start_frame: int = 0,
    end_frame: int = 300,
    confidence_threshold: float = 0.3,
    *,
    bucket: Bucket | None = None,
) -> dict[str, Any]:
    """The ball on each frame of a range: ``{"status": "success", "ball_positions": ...}``."""
    args = (user_id, input_key, start_frame, end_frame, confidence_threshold)
    if settings.modal.enabled:
        return await _remote(settings.modal.app, BALL_FUNCTION, *args)
    target = bucket or open_bucket(settings)
    return await asyncio.to_thread(interactive.detect_ball, target, settings, *args)


@functools.cache
def _function(app_name: str, name: str) -> Any:
    """``modal.Function.from_name``: lazy (no network), once per name and process."""
    import modal

    return modal.Function.from_name(app_name, name)


async def _remote(app_name: str, name: str, *args: Any) -> dict[str, Any]:
    function = _function(app_name, name)
    try:
        answer: dict[str, Any] = await asyncio.to_thread(function.remote, *args)
    except ReelpipeError:
        raise  # the request's own problem, raised again here (InputNotFound, ...)
    except Exception as exc:
        raise RemoteUnavailable(
            f"{app_name}.{name} could not be called: {type(exc).__name__}: {exc}"
        ) from exc
    return answer

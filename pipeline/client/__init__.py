"""What an app uses: submit clips, follow, list, cancel and fetch jobs (sync and async),
and the interactive detection calls. Imported on first use, so ``pipeline.client.submit``
alone loads no detector."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ReelpipeClient": "pipeline.client.app_client",
    "AsyncReelpipeClient": "pipeline.client.async_client",
    "RemoteUnavailable": "pipeline.client.interactive",
    "detect_players": "pipeline.client.interactive",
    "detect_ball": "pipeline.client.interactive",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline.client' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)

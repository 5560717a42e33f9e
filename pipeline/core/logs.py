"""Logging with structlog: context bound per job and stage, JSON off a terminal.

Secrets known to the settings are masked in every event before it is rendered,
and every string value is bounded (2 KB, saying how much was cut): a hostile
input echoed into an error cannot flood the log.

Example::

    configure_logging(secrets=settings.secret_values())
    with structlog.contextvars.bound_contextvars(job_id=job_id):
        log.info("stage_finished", duration_s=1.2, frames=36)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

from pipeline.core.errors import bounded_message, redact

TRACEBACK_CHARS = 16_000
# The secrets the masker hides: those of the settings, then any generated at run time
# (``serve`` makes a webhook secret and an API token) through :func:`mask_secrets`.
_MASKED: list[str] = []


def mask_secrets(*values: str) -> None:
    """Hide ``values`` too in every later log event (secrets made after logging was set)."""
    _MASKED.extend(v for v in values if v and v not in _MASKED)


def _masker() -> Any:
    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return bounded_message(redact(value, tuple(_MASKED)))
        if isinstance(value, dict):
            return {k: mask(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(mask(v) for v in value)
        return value

    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        masked = {key: mask(value) for key, value in event.items() if key != "exception"}
        if "exception" in event:  # a traceback: its end says most, keep that
            trace = redact(str(event["exception"]), tuple(_MASKED))
            masked["exception"] = trace[-TRACEBACK_CHARS:]
        return masked

    return processor


def configure_logging(
    *,
    secrets: Iterable[str] = (),
    json: bool | None = None,
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog for this process (JSON when ``stream`` is not a terminal)."""
    _MASKED[:] = []
    mask_secrets(*secrets)
    stream = stream or sys.stderr
    use_json = (not stream.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _masker(),
        renderer,
    ]
    if not use_json:
        # Start each line at column 0 so it does not collide with a progress bar.
        processors.append(lambda _l, _n, line: "\r\x1b[K" + line)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )

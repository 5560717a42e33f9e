"""Builds what every entry point needs, in one place: a worker that runs jobs here, and
logging set up with the secrets masked.

    worker = local_worker(bucket, settings, stop=stop)
    settings = with_logging(settings, json_logs=None)

The CLI commands, ``serve`` and the library's ``process`` all build theirs here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pipeline.core.logs import configure_logging
from pipeline.core.settings import Settings
from pipeline.jobs.notifier import Notifier, ThreadedDispatcher
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import StatusManifest
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket


def local_worker(
    bucket: Bucket,
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    on_status: Callable[[StatusManifest], None] | None = None,
    callback_refused_ports: frozenset[int] = frozenset(),
) -> Worker:
    """A worker that runs jobs on this machine (stages in process, segments in worker
    processes), stopping at the next frame boundary once ``stop`` is set. Its callbacks
    are delivered by threads of this process: :meth:`Worker.close` gives the ones under
    way a last chance; they never go to ``callback_refused_ports`` (``serve``'s own)."""
    stop = stop or threading.Event()  # one event: the worker's and its segment processes'
    dispatcher = ThreadedDispatcher(bucket, settings, refused_ports=callback_refused_ports)
    notifier = Notifier(bucket, settings, dispatcher, then=on_status)
    worker = Worker(
        bucket, settings, LocalRunner(bucket, settings, stop=stop), stop=stop, on_status=notifier
    )
    worker.closing.append(lambda: dispatcher.close(settings.callbacks.timeout_s + 1.0))
    return worker


def with_logging(settings: Settings, *, json_logs: bool | None) -> Settings:
    """``settings``, after logging is set up for them (their secrets masked; JSON lines
    when ``json_logs``, else JSON only off a terminal)."""
    configure_logging(secrets=settings.secret_values(), json=json_logs)
    return settings

"""Callbacks, sent as a job's status changes, without ever holding the job up.

:class:`Notifier` listens to the orchestrator's status writes (its ``on_status``). When a
job whose manifest asked for callbacks ends (``succeeded``, ``failed``, ``cancelled``),
or makes progress (at most one every ``callback_progress_interval_s``), it hands a
:class:`~pipeline.jobs.callback_delivery.Delivery` to a dispatcher and returns at once:

- :class:`ThreadedDispatcher` delivers in this process's background threads (``serve``,
  ``scan``, ``process``); its retries live as long as the process;
- on Modal a dispatcher spawns a small function per delivery, which runs the retries.

A slow, hanging or failing receiver costs a thread, never the job's time or outcome.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import structlog

from pipeline.core.settings import Settings
from pipeline.jobs.callback_delivery import Delivery, deliver, record_delivery
from pipeline.manifests.job import CallbackEvent
from pipeline.manifests.status import JobState, Notification, StatusManifest
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

_TERMINAL = {
    JobState.SUCCEEDED: CallbackEvent.SUCCEEDED,
    JobState.FAILED: CallbackEvent.FAILED,
    JobState.CANCELLED: CallbackEvent.CANCELLED,
}
SENT_REMEMBERED = 10_000
NO_SECRET = "not sent: REELPIPE_CALLBACK_SECRET is not set, and callbacks are always signed"


class Dispatcher(Protocol):
    """Delivers callbacks somewhere other than the caller's thread."""

    def dispatch(self, delivery: Delivery) -> None:
        """Start delivering ``delivery``; return at once."""


class ThreadedDispatcher:
    """Deliveries in daemon threads of this process (a delivery waiting to retry never
    keeps the process from exiting); ``refused_ports``: this process's own servers'."""

    def __init__(
        self, bucket: Bucket, settings: Settings, *, refused_ports: frozenset[int] = frozenset()
    ) -> None:
        self.bucket, self.settings = bucket, settings
        self.refused_ports = refused_ports
        self._stop = threading.Event()
        self._pending = 0
        self._idle = threading.Condition()

    def dispatch(self, delivery: Delivery) -> None:
        """Deliver in the background (a progress event is tried once: the next replaces it)."""
        if self._stop.is_set():
            return
        with self._idle:
            self._pending += 1
        threading.Thread(
            target=self._deliver, args=(delivery,), name="reelpipe-callback", daemon=True
        ).start()

    def _deliver(self, delivery: Delivery) -> None:
        once = 1 if delivery.event is CallbackEvent.PROGRESS else None
        try:
            deliver(
                self.bucket,
                self.settings,
                delivery,
                attempts=once,
                sleep=self._stop.wait,
                refused_ports=self.refused_ports,
            )
        except Exception as exc:  # noqa: BLE001 - a callback never takes the worker down
            log.error("callback_crashed", job_id=delivery.job_id, error=str(exc)[:300])
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def close(self, wait_s: float) -> int:
        """Wait up to ``wait_s`` for the deliveries under way, then stop their retries;
        how many were still pending."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout=wait_s)
            left = self._pending
        self._stop.set()
        return left


class Notifier:
    """The status listener that turns a job's changes into callbacks."""

    def __init__(
        self,
        bucket: Bucket,
        settings: Settings,
        dispatcher: Dispatcher,
        *,
        then: Callable[[StatusManifest], None] | None = None,
    ) -> None:
        self.bucket, self.settings, self.dispatcher = bucket, settings, dispatcher
        self.then = then  # the listener this one is put in front of
        # The events sent, newest last (bounded: a long-running serve sees many jobs).
        self._sent: OrderedDict[tuple[str, int, CallbackEvent], None] = OrderedDict()
        self._last_progress: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, status: StatusManifest) -> None:
        try:
            self._notice(status)
        finally:
            if self.then is not None:
                self.then(status)

    def _notice(self, status: StatusManifest) -> None:
        notify = status.notify
        if notify is None:
            return
        event = _TERMINAL.get(status.state)
        if event is None:
            if status.state is JobState.RUNNING and CallbackEvent.PROGRESS in notify.events:
                self._progress(status)
            return
        if event not in notify.events:
            return
        with self._lock:
            sent = (status.job_id, status.runs.epoch, event)
            if sent in self._sent:
                return
            self._sent[sent] = None
            if len(self._sent) > SENT_REMEMBERED:
                self._sent.popitem(last=False)
            self._last_progress.pop(status.job_id, None)
        self._send(status, event)

    def _progress(self, status: StatusManifest) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last_progress.get(status.job_id)
            if last is not None and now - last < self.settings.callbacks.progress_interval_s:
                return
            self._last_progress[status.job_id] = now
        self._send(status, CallbackEvent.PROGRESS)

    def _send(self, status: StatusManifest, event: CallbackEvent) -> None:
        key = self.bucket.layout.status_key(status.user_id, status.job_id)
        delivery = Delivery.for_status(status, event, key)
        if self.settings.callbacks.secret is None:
            record = Notification(
                event=event, webhook_id=delivery.webhook_id, gave_up=True, last_error=NO_SECRET
            )
            record_delivery(self.bucket, delivery, record)
            return
        self.dispatcher.dispatch(delivery)

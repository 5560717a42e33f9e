"""One callback event delivered: signed (Standard Webhooks), retried, recorded in the status.

The body is the job's summary; the headers are ``webhook-id`` (the same on every retry,
so a receiver can drop duplicates), ``webhook-timestamp`` and ``webhook-signature:
v1,<base64 HMAC-SHA256>``, made by the ``standardwebhooks`` package with
``REELPIPE_CALLBACK_SECRET``. A delivery is retried on any answer but 2xx, and on
network errors, with exponential backoff and jitter (6 tries over ~15 minutes by
default). Every try updates the job's ``notifications`` entry for the event.

Example::

    delivery = Delivery.for_status(status, CallbackEvent.SUCCEEDED)
    deliver(bucket, settings, delivery)          # blocks through the retries

``refused_ports`` are the ports of the process's own servers (``serve``: its S3 endpoint,
webhook and operator API), refused like a private address, whatever the allowance.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import SecretStr
from standardwebhooks import Webhook

from pipeline.core.errors import ObjectNotFound, ReelpipeError, bounded_message
from pipeline.core.settings import Settings
from pipeline.jobs.callback_target import CallbackRefused, check_target, post
from pipeline.manifests.job import CallbackEvent
from pipeline.manifests.status import Notification, StatusManifest, utc_now
from pipeline.status.store import StatusStore
from pipeline.status.transitions import notified
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)

USER_AGENT = "reelpipe-callbacks/1"
JITTER = 0.2  # each wait is its nominal length x (1 +- 20%)


@dataclass(frozen=True)
class Delivery:
    """One event of one job, to one URL, with the body every retry sends."""

    user_id: str
    job_id: str
    status_key: str
    event: CallbackEvent
    url: str
    webhook_id: str
    body: str  # JSON, signed as is

    @classmethod
    def for_status(cls, status: StatusManifest, event: CallbackEvent, status_key: str) -> Delivery:
        """The ``event`` callback of ``status`` (whose ``notify`` names the URL)."""
        assert status.notify is not None
        suffix = f"{int(utc_now().timestamp())}" if event is CallbackEvent.PROGRESS else ""
        webhook_id = f"msg_{status.job_id}_{status.runs.epoch}_{event.value}{suffix}"
        return cls(
            status.user_id,
            status.job_id,
            status_key,
            event,
            status.notify.url,
            webhook_id,
            json.dumps(callback_body(status, event, status_key), separators=(",", ":")),
        )

    def as_wire(self) -> dict[str, str]:
        """As JSON, to hand to another process (a Modal function) that delivers it."""
        return {k: str(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_wire(cls, wire: dict[str, str]) -> Delivery:
        """Back from :meth:`as_wire`."""
        return cls(**{**wire, "event": CallbackEvent(wire["event"])})  # type: ignore[arg-type]


def callback_body(status: StatusManifest, event: CallbackEvent, status_key: str) -> dict[str, Any]:
    """What the app is told: the job's id, request, state, progress, outputs and error."""
    outputs = {"video": status.output_key} if status.output_key else {}
    outputs |= {k: v for k, v in status.outputs.items() if k in ("poster", "preview")}
    return {
        "type": f"job.{event.value}",
        "timestamp": utc_now().isoformat(),
        "data": {
            "job_id": status.job_id,
            "user_id": status.user_id,
            "request_key": status.request_key,
            "status_key": status_key,
            "state": status.state.value,
            "progress": status.progress.percent,
            "outputs": outputs,
            "error": status.error.model_dump(mode="json") if status.error else None,
        },
    }


def signer(secret: SecretStr) -> Webhook:
    """The Standard Webhooks signer of ``secret`` (``whsec_<base64>``, or any string)."""
    value = secret.get_secret_value()
    return Webhook(value) if value.startswith("whsec_") else Webhook(value.encode())


def headers_for(delivery: Delivery, webhook: Webhook, now: datetime) -> dict[str, str]:
    """The signed headers of one try (a new timestamp, so a slow retry is not stale)."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhook.sign(delivery.webhook_id, now, delivery.body),
    }


def retry_waits(settings: Settings, attempts: int | None = None) -> list[float]:
    """The nominal waits between tries: first_retry_s, doubling (no jitter)."""
    count = (attempts or settings.callbacks.attempts) - 1
    return [settings.callbacks.first_retry_s * 2**i for i in range(count)]


Sleep = Callable[[float], bool]  # sleeps; True when told to stop early


def deliver(
    bucket: Bucket,
    settings: Settings,
    delivery: Delivery,
    *,
    attempts: int | None = None,
    sleep: Sleep | None = None,
    refused_ports: frozenset[int] = frozenset(),
) -> Notification:
    """Try ``delivery`` until a 2xx or ``attempts`` tries; each try recorded in the status.
    A target that is refused (see :func:`check_target`) is not tried again."""
    assert settings.callbacks.secret is not None, "callbacks are sent only with a secret"
    webhook = signer(settings.callbacks.secret)
    waits = retry_waits(settings, attempts)
    pause = sleep or _sleeper(threading.Event())
    record = Notification(event=delivery.event, webhook_id=delivery.webhook_id)
    for attempt in range(len(waits) + 1):
        record = _try_once(settings, delivery, webhook, record, refused_ports)
        record_delivery(bucket, delivery, record)
        if record.delivered_at is not None or record.gave_up:
            break
        if attempt == len(waits):
            record = record.model_copy(update={"gave_up": True})
            record_delivery(bucket, delivery, record)
            break
        wait = waits[attempt] * random.uniform(1 - JITTER, 1 + JITTER)
        if pause(wait):
            break
    log.info(
        "callback_finished",
        job_id=delivery.job_id,
        callback_event=delivery.event.value,
        attempts=record.attempts,
        http_status=record.last_http_status,
        delivered=record.delivered_at is not None,
    )
    return record


def _try_once(
    settings: Settings,
    delivery: Delivery,
    webhook: Webhook,
    record: Notification,
    refused_ports: frozenset[int],
) -> Notification:
    attempts = record.attempts + 1
    body = delivery.body.encode()
    try:
        target = check_target(
            delivery.url,
            allow=settings.callbacks.allow_private,
            refused_ports=refused_ports,
            timeout_s=settings.callbacks.timeout_s,
        )
        headers = headers_for(delivery, webhook, utc_now())
        code = post(target, body, headers, settings.callbacks.timeout_s)
    except CallbackRefused as exc:  # refused now is refused on every retry
        return record.model_copy(
            update={"attempts": attempts, "last_error": str(exc), "gave_up": True}
        )
    except (OSError, ValueError) as exc:  # DNS, refused, reset, timed out, bad TLS: retried
        error = bounded_message(f"{type(exc).__name__}: {exc}", 300)
        return record.model_copy(update={"attempts": attempts, "last_error": error})
    update: dict[str, Any] = {"attempts": attempts, "last_http_status": code}
    if 200 <= code < 300:
        update |= {"delivered_at": utc_now(), "last_error": None}
    else:
        update["last_error"] = f"the receiver answered HTTP {code}"
    return record.model_copy(update=update)


def record_delivery(bucket: Bucket, delivery: Delivery, record: Notification) -> None:
    """Put ``record`` in the job's ``notifications`` (best effort: never fails a delivery)."""
    try:
        StatusStore(bucket, delivery.status_key).update(lambda s: notified(s, record))
    except (ReelpipeError, ObjectNotFound) as exc:
        log.warning("callback_record_failed", job_id=delivery.job_id, error=str(exc)[:200])


def _sleeper(stop: threading.Event) -> Sleep:
    return stop.wait

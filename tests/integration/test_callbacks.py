"""Signed completion callbacks: real HTTP receivers on loopback, real jobs, real S3 (moto).

The receivers answer what each test scripts (fail twice, hang); signatures are checked with
the ``standardwebhooks`` verifier an app would use."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.callback_delivery import Delivery, deliver
from pipeline.jobs.callback_target import CallbackRefused, check_target
from pipeline.jobs.claim import claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.job import CallbackEvent
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.stage_runs import run_claimed

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OVERLAY = {"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}


@dataclass
class Receiver:
    """A loopback HTTP receiver: answers ``codes`` in turn (then 200), records each call."""

    codes: list[int] = field(default_factory=list)
    hang: threading.Event | None = None  # hold every answer until set
    calls: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            state.calls.append(
                ({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            )
            state.got.set()
            if state.hang is not None:
                state.hang.wait(60)
            code = state.codes.pop(0) if state.codes else 200
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/reelpipe"
    yield state
    if state.hang is not None:
        state.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def signed(settings: Settings) -> Settings:
    """Callbacks on, a fast retry schedule, loopback receivers allowed (as ``serve`` does)."""
    return settings.replace(
        callback_secret=SecretStr(SECRET),
        callback_allow_private="loopback",
        callback_first_retry_s=0.05,
        callback_timeout_s=5.0,
    )


def _job(
    bucket: Bucket, settings: Settings, clip: Path, notify: dict[str, Any], tag: str, **listen: Any
) -> StatusManifest:
    relative = upload_clip(bucket, "u", clip)
    doc = {"input_key": relative, "notify": notify, **job_manifest(overlay=OVERLAY)}
    inbox = submit_manifest(bucket, "u", doc, request_id=tag).inbox_key
    return run_claimed(bucket, settings, inbox, **listen)


def _status(bucket: Bucket, status: StatusManifest) -> StatusManifest:
    doc = bucket.get_json(bucket.layout.status_key(status.user_id, status.job_id))
    return StatusManifest.model_validate(doc.data)


def test_a_finished_job_calls_back_signed_with_its_summary(
    bucket: Bucket, signed: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    status = _job(bucket, signed, clip, {"url": receiver.url}, "cb-1")
    assert status.state is JobState.SUCCEEDED
    assert receiver.got.wait(10)
    headers, body, _ = receiver.calls[0]
    payload = Webhook(SECRET).verify(body, headers)  # raises when the signature is wrong
    assert payload["type"] == "job.succeeded"
    data = payload["data"]
    assert data["job_id"] == status.job_id and data["state"] == "succeeded"
    assert data["request_key"] == "inbox/u/cb-1.json"
    assert data["outputs"]["video"] == status.output_key
    assert data["outputs"]["poster"] == status.outputs["poster"]
    assert headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    tampered = body.replace(b"succeeded", b"failed!!!")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    recorded = _status(bucket, status).notifications
    assert [(n.event, n.attempts, n.last_http_status) for n in recorded] == [
        (CallbackEvent.SUCCEEDED, 1, 200)
    ]
    assert recorded[0].delivered_at is not None
    assert SECRET not in json.dumps(_status(bucket, status).model_dump(mode="json"))


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try_with_the_same_id(
    bucket: Bucket, signed: Settings, receiver: Receiver
) -> None:
    receiver.codes = [500, 503]
    status = StatusManifest(
        job_id="0123456789abcdef0123",
        user_id="u",
        manifest_key="-",
        state=JobState.FAILED,
        notify={"url": receiver.url},  # type: ignore[arg-type]
    )
    key = bucket.layout.status_key("u", status.job_id)
    bucket.put_json(key, status.model_dump(mode="json"))
    record = deliver(bucket, signed, Delivery.for_status(status, CallbackEvent.FAILED, key))
    assert record.attempts == 3 and record.last_http_status == 200
    assert record.delivered_at is not None and not record.gave_up
    ids = {headers["webhook-id"] for headers, _, _ in receiver.calls}
    assert len(receiver.calls) == 3 and len(ids) == 1
    for headers, body, _ in receiver.calls:
        Webhook(SECRET).verify(body, headers)
    gaps = [b[2] - a[2] for a, b in zip(receiver.calls, receiver.calls[1:], strict=False)]
    assert gaps[1] > gaps[0]  # backing off
    stored = _status(bucket, status).notifications
    assert stored[-1].attempts == 3 and stored[-1].last_http_status == 200


def test_retries_stop_after_the_last_attempt_and_say_so(
    bucket: Bucket, signed: Settings, receiver: Receiver
) -> None:
    receiver.codes = [500] * 10
    status = StatusManifest(
        job_id="0123456789abcdef0124",
        user_id="u",
        manifest_key="-",
        state=JobState.SUCCEEDED,
        notify={"url": receiver.url},
    )  # type: ignore[arg-type]
    key = bucket.layout.status_key("u", status.job_id)
    bucket.put_json(key, status.model_dump(mode="json"))
    record = deliver(
        bucket, signed, Delivery.for_status(status, CallbackEvent.SUCCEEDED, key), attempts=4
    )
    assert record.attempts == 4 and record.gave_up and record.delivered_at is None
    assert record.last_http_status == 500 and len(receiver.calls) == 4


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "ftp://example.com/hook",
        "https://user:pw@93.184.216.34/hook",
    ],
)
def test_private_and_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_target(url, allow="no")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://[2002:7f00:1::]/hook", "6to4 of 127.0.0.1"),
        ("https://[2002:a9fe:a9fe::]/latest/meta-data/", "6to4 of 169.254.169.254"),
        ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "Teredo of 127.0.0.1"),
        ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook", "Teredo of 10.0.0.1"),
        ("https://[64:ff9b::a00:1]/hook", "NAT64 of 10.0.0.1"),
        ("https://[64:ff9b::7f00:1]/hook", "NAT64 of 127.0.0.1"),
        ("https://[::127.0.0.1]/hook", "IPv4-compatible of 127.0.0.1"),
        ("https://[::192.168.1.1]/hook", "IPv4-compatible of 192.168.1.1"),
    ],
)
@pytest.mark.parametrize("allow", ["no", "loopback"])
def test_an_ipv4_address_inside_an_ipv6_one_is_judged(url: str, why: str, allow: str) -> None:
    """6to4, Teredo (its client XOR-ed), NAT64 and IPv4-compatible addresses carry an IPv4
    address a relay delivers to: that one decides; a wrapped loopback is not loopback."""
    with pytest.raises(CallbackRefused, match=why):
        check_target(url, allow=allow)  # type: ignore[arg-type]


def test_a_public_ipv4_inside_6to4_is_public() -> None:
    assert check_target("https://[2002:808:808::]/hook").port == 443


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:0/", "https://93.184.216.34:0/hook", "https://example.com:99999/"]
)
def test_a_port_outside_1_to_65535_is_refused_not_replaced_by_the_default(url: str) -> None:
    with pytest.raises(CallbackRefused, match="port"):
        check_target(url, allow="yes")


@pytest.mark.parametrize("allow", ["no", "loopback", "yes"])
def test_reelpipes_own_ports_are_refused_whatever_the_allowance(allow: str) -> None:
    for url in ("http://127.0.0.1:9001/v1/jobs/bob/x/cancel", "https://93.184.216.34:9000/"):
        with pytest.raises(CallbackRefused, match="reelpipe's own"):
            check_target(url, allow=allow, refused_ports=frozenset({9000, 9001}))  # type: ignore[arg-type]
    assert check_target("http://127.0.0.1:9002/", allow="yes", refused_ports=frozenset({9001}))


def test_a_callback_to_an_own_port_is_refused_once_and_recorded(
    bucket: Bucket, signed: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    """On ``serve`` a callback is a loopback client: alice's URL naming the API's port
    (here the receiver stands in for it) is refused, not retried, and the status says so."""
    own = frozenset({int(receiver.url.split(":")[2].split("/")[0])})
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    status = _job(bucket, signed, clip, {"url": receiver.url}, "cb-own", callback_refused_ports=own)
    assert status.state is JobState.SUCCEEDED
    (record,) = _status(bucket, status).notifications
    assert record.gave_up and record.attempts == 1 and "reelpipe's own" in (record.last_error or "")
    assert receiver.calls == []


def test_public_https_targets_pass_and_http_needs_a_private_allowance() -> None:
    target = check_target("https://93.184.216.34:8443/hooks?x=1", allow="no")
    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/hooks?x=1")
    with pytest.raises(CallbackRefused, match="https"):
        check_target("http://93.184.216.34/hooks", allow="no")
    assert check_target("http://127.0.0.1:9/x", allow="loopback").address == "127.0.0.1"
    with pytest.raises(CallbackRefused):
        check_target("http://10.0.0.1/x", allow="loopback")  # loopback only
    assert check_target("http://10.0.0.1/x", allow="yes").address == "10.0.0.1"


def test_a_private_target_is_refused_in_the_status_and_the_job_still_succeeds(
    bucket: Bucket, signed: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    strict = signed.replace(callback_allow_private="no")
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    status = _job(bucket, strict, clip, {"url": receiver.url}, "cb-private")
    assert status.state is JobState.SUCCEEDED
    (record,) = _status(bucket, status).notifications
    assert record.gave_up and record.attempts == 1 and "loopback" in (record.last_error or "")
    assert receiver.calls == []


def test_a_hanging_receiver_does_not_hold_the_job(
    bucket: Bucket, signed: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    """The receiver never answers while the job runs: the worker finishes regardless."""
    receiver.hang = threading.Event()
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    relative = upload_clip(bucket, "u", clip)
    notify = {"url": receiver.url, "events": ["succeeded", "failed", "progress"]}
    doc = {"input_key": relative, "notify": notify, **job_manifest(overlay=OVERLAY)}
    job = claim(bucket, submit_manifest(bucket, "u", doc, request_id="cb-hang").inbox_key)
    assert job is not None
    worker = local_worker(bucket, signed)
    finished: list[StatusManifest | None] = []
    runner = threading.Thread(target=lambda: finished.append(worker.run(job)))
    runner.start()
    runner.join(timeout=120)
    assert not runner.is_alive() and finished and finished[0] is not None
    assert finished[0].state is JobState.SUCCEEDED
    assert receiver.got.is_set() and not receiver.hang.is_set()  # called, still holding on
    done = finished[0]
    delivered = [n for n in _status(bucket, done).notifications if n.delivered_at is not None]
    assert delivered == []  # the job is done while its callbacks are still under way
    receiver.hang.set()
    worker.close()


def test_without_a_secret_callbacks_are_not_sent_and_the_status_says_why(
    bucket: Bucket, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    unsigned = settings.replace(callback_allow_private="loopback")
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    status = _job(bucket, unsigned, clip, {"url": receiver.url}, "cb-nosecret")
    (record,) = _status(bucket, status).notifications
    assert record.gave_up and "REELPIPE_CALLBACK_SECRET" in (record.last_error or "")
    assert receiver.calls == []


def test_progress_callbacks_are_throttled(
    bucket: Bucket, signed: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    throttled = signed.replace(callback_progress_interval_s=3600.0)
    clip, _ = make_clip(tmp_path, duration_s=2.0)
    notify = {"url": receiver.url, "events": ["progress", "succeeded"]}
    status = _job(bucket, throttled, clip, notify, "cb-progress")
    assert status.state is JobState.SUCCEEDED
    deadline = time.monotonic() + 10
    while len(receiver.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    kinds = [json.loads(body)["type"] for _, body, _ in receiver.calls]
    assert kinds.count("job.progress") == 1 and kinds.count("job.succeeded") == 1


def test_a_host_that_does_not_resolve_is_retried_not_refused(
    bucket: Bucket, signed: Settings
) -> None:
    """DNS trouble may pass; only a target that is not allowed is refused for good."""
    status = StatusManifest(
        job_id="0123456789abcdef0125",
        user_id="u",
        manifest_key="-",
        state=JobState.SUCCEEDED,
        notify={"url": "https://reelpipe-test.invalid/hook"},  # type: ignore[arg-type]
    )
    key = bucket.layout.status_key("u", status.job_id)
    bucket.put_json(key, status.model_dump(mode="json"))
    delivery = Delivery.for_status(status, CallbackEvent.SUCCEEDED, key)
    record = deliver(bucket, signed, delivery, attempts=2)
    assert record.attempts == 2 and record.gave_up and record.delivered_at is None
    assert "resolve" in (record.last_error or "")

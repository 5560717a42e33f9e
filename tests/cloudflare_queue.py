"""The Cloudflare queue consumer under miniflare (workerd, from npm), for the tests and
the benchmark: the Worker in infra/cloudflare with the queue settings of its wrangler.toml,
a local queue to put R2-shaped notifications on, and its dead-letter queue to read.

Nothing here needs a network beyond loopback; ``scripts/test`` installs the pinned
miniflare (``npm ci``) into infra/cloudflare/node_modules first.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOUDFLARE_DIR = Path(__file__).resolve().parents[1] / "infra" / "cloudflare"
HARNESS = CLOUDFLARE_DIR / "test" / "harness.mjs"
NODE = shutil.which("node")
NO_NODE = "node is not installed: the queue consumer Worker is tested under miniflare (Node.js)"
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0


def wrangler_config() -> dict[str, Any]:
    """infra/cloudflare/wrangler.toml, parsed."""
    return tomllib.loads((CLOUDFLARE_DIR / "wrangler.toml").read_text())


def r2_notification(
    key: str, etag: str, size: int = 100, bucket: str = "reelpipe"
) -> dict[str, Any]:
    """A message body as R2 puts it on the queue for an object written under ``inbox/``."""
    return {
        "account": "0123456789abcdef0123456789abcdef",
        "action": "PutObject",
        "bucket": bucket,
        "object": {"key": key, "size": size, "eTag": etag.strip('"')},
        "eventTime": "2026-12-07T00:00:00.000Z",
    }


@dataclass
class QueueConsumer:
    """A running harness: ``send`` puts messages on the inbox queue; ``dead`` lists the
    dead-letter queue; ``logs`` are the Workers' log lines (JSON ones parsed)."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def send(self, bodies: list[dict[str, Any]]) -> None:
        """Put one message per body on the inbox queue (in batches of 100, as producers do)."""
        data = json.dumps({"bodies": bodies}).encode()
        request = urllib.request.Request(f"{self.url}send", data=data, method="POST")
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as resp:
            assert resp.status == 200

    def dead(self) -> list[dict[str, Any]]:
        """What reached the dead-letter queue so far."""
        with urllib.request.urlopen(f"{self.url}dead", timeout=REQUEST_TIMEOUT_S) as resp:
            documents: list[dict[str, Any]] = json.loads(resp.read())
            return documents

    def logs(self, event: str | None = None) -> list[dict[str, Any]]:
        """The Worker's structured log lines (those with ``event``, when given)."""
        parsed = []
        for line in list(self.lines):
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and (event is None or document.get("event") == event):
                parsed.append(document)
        return parsed


@contextmanager
def queue_consumer(
    webhook_url: str,
    secret: str,
    *,
    queue_overrides: dict[str, Any] | None = None,
    var_overrides: dict[str, str] | None = None,
) -> Iterator[QueueConsumer]:
    """The Worker of infra/cloudflare under miniflare, forwarding to ``webhook_url`` signed
    with ``secret`` (both passed in its environment, never on its command line)."""
    assert NODE is not None, NO_NODE
    if not (CLOUDFLARE_DIR / "node_modules" / "miniflare").is_dir():
        raise AssertionError(
            "miniflare is not installed: run scripts/test, or `npm ci` in infra/cloudflare"
        )
    config = wrangler_config()
    (consumer,) = config["queues"]["consumers"]
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")},
        "WEBHOOK_URL": webhook_url,
        "WEBHOOK_SECRET": secret,
        "COMPATIBILITY_DATE": config["compatibility_date"],
        "CONSUMER_QUEUE": json.dumps({**consumer, **(queue_overrides or {})}),
        "CONSUMER_VARS": json.dumps(
            {k: v for k, v in config["vars"].items() if k != "WEBHOOK_URL"} | (var_overrides or {})
        ),
    }
    proc = subprocess.Popen(
        [NODE, str(HARNESS)],
        cwd=CLOUDFLARE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    first: queue.Queue[str] = queue.Queue()
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not lines:
                first.put(line)
            lines.append(line.rstrip("\n"))
        first.put("")

    threading.Thread(target=pump, daemon=True, name="miniflare-out").start()
    try:
        try:
            ready = first.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"miniflare did not start in {START_TIMEOUT_S:g} s") from None
        try:
            url = json.loads(ready)["url"]
        except (ValueError, KeyError):
            time.sleep(0.5)
            raise AssertionError("miniflare failed to start:\n" + "\n".join(lines)) from None
        yield QueueConsumer(proc, url, lines)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


@dataclass
class Forwarded:
    """One request the fault proxy saw: when, how many notifications, what it answered."""

    at: float
    notifications: int
    status: int


class FlakyWebhook:
    """A loopback HTTP proxy in front of the webhook: the first ``failures`` POSTs are
    answered ``fail_status`` (or, with ``stall_s``, held that long and dropped unanswered);
    the rest are forwarded as they are. ``seen`` records every request."""

    def __init__(
        self, upstream: str, *, failures: int = 0, fail_status: int = 503, stall_s: float = 0.0
    ) -> None:
        self.upstream, self.failures = upstream, failures
        self.fail_status, self.stall_s = fail_status, stall_s
        self.seen: list[Forwarded] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                count = len(json.loads(body)) if body.startswith(b"[") else 1
                if len(proxy.seen) < proxy.failures:
                    status = proxy.fail_status if not proxy.stall_s else 0
                    proxy.seen.append(Forwarded(arrived, count, status))
                    if proxy.stall_s:
                        time.sleep(proxy.stall_s)
                        self.close_connection = True
                        return
                    self._answer(status, b'{"error": "injected"}')
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower().startswith(("x-", "content-"))
                }
                request = urllib.request.Request(
                    proxy.upstream, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as resp:
                        status, answer = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, answer = exc.code, exc.read()
                proxy.seen.append(Forwarded(arrived, count, status))
                self._answer(status, answer)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="flaky").start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/events"

    def answered(self, count: int, timeout_s: float = 30.0) -> list[Forwarded]:
        """The first ``count`` requests, once answered."""
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count:
            assert time.monotonic() < deadline, f"the webhook saw {len(self.seen)} of {count}"
            time.sleep(0.02)
        return self.seen[:count]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

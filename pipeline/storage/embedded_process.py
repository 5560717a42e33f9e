"""The embedded S3 server in a child process: started first, ready when first used.

``reelpipe process`` starts it before anything else, so the child imports moto
and binds its port on the second core while this process imports the pipeline,
hashes and probes the clip. Serving from another process also keeps moto's
request threads off this process's interpreter lock during the frame loop.

The child accepts one key pair, handed over on its stdin (never on its command line,
where ``ps`` would show it): a fresh random one unless the caller gives one. Nobody but
this process talks to that store, so nobody else needs to know it.

The child serves until its stdin closes: when this process stops it (or dies,
even by SIGKILL, which closes the pipe) the child stops too, so no server is
left behind. Its objects live in memory and go with it.

Example::

    server = EmbeddedS3Process().start()         # returns at once
    ...                                          # imports, hashing, probing
    settings = settings.replace(endpoint_url=server.endpoint_url)
    server.stop()
"""

from __future__ import annotations

import contextlib
import gc
import json
import secrets
import signal
import subprocess
import sys
import threading
from typing import IO

from pipeline.core.errors import ConfigError
from pipeline.storage.embedded import EMBEDDED_HOST
from pipeline.storage.sigv4 import KeyPair

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


class EmbeddedS3Process:
    """``EmbeddedS3`` served by a child Python process on ``host`` (a free port), accepting
    ``keys`` only (default: a random pair made here)."""

    def __init__(self, host: str = EMBEDDED_HOST, *, keys: KeyPair | None = None) -> None:
        self.host = host
        self.keys = keys or KeyPair(f"reelpipe-{secrets.token_hex(4)}", secrets.token_urlsafe(32))
        self._proc: subprocess.Popen[str] | None = None
        self._endpoint: str | None = None

    def start(self) -> EmbeddedS3Process:
        """Start the child (unless it runs); returns at once (``endpoint_url`` waits)."""
        if self._proc is not None:
            return self
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.storage.embedded_process", self.host],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdin is not None  # PIPE was asked for
        self._proc.stdin.write(_key_line(self.keys))
        self._proc.stdin.flush()
        return self

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` once the child serves (ConfigError if it cannot)."""
        if self._endpoint is not None:
            return self._endpoint
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise ConfigError("the embedded S3 server is not running")
        stdout = proc.stdout
        line: list[str] = []

        def read_first_line() -> None:
            line.append(stdout.readline())

        reader = threading.Thread(target=read_first_line, daemon=True, name="embedded-s3-start")
        reader.start()
        reader.join(START_TIMEOUT_S)
        endpoint = line[0].strip() if line else ""
        if not endpoint.startswith("http://"):
            self.stop()
            raise ConfigError(
                f"the embedded S3 server did not start within {START_TIMEOUT_S:g} s"
                + (f": {endpoint}" if endpoint else "")
            )
        self._endpoint = endpoint
        return endpoint

    def output(self) -> IO[str]:
        """The child's output, readable once it has said where it serves (for a selector
        that waits for it: :attr:`endpoint_url` then reads that line at once)."""
        if self._proc is None or self._proc.stdout is None:
            raise ConfigError("the embedded S3 server is not running")
        return self._proc.stdout

    def hand_over(self) -> subprocess.Popen[str]:
        """After a fork that took this store (and will stop it): close this process's
        ends of the child's pipes, so that the child ends once the fork has, and return
        the child for this process to reap."""
        proc, self._proc = self._proc, None
        if proc is None:
            raise ConfigError("the embedded S3 server is not running")
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        return proc

    def stop(self) -> None:
        """End the child at once: its store is in memory, there is nothing to save (and
        its interpreter's tidy exit would cost a quarter of a second)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> EmbeddedS3Process:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_until_stdin_closes(host: str) -> None:
    """The child's body: serve, print the endpoint, stop when stdin reaches its end.

    Ctrl-C, SIGTERM and a closed terminal's SIGHUP reach the whole process group; the
    parent handles them (it stops at a frame boundary and may still write), so the child
    ignores them and goes when the parent stops it or closes the pipe."""
    from pipeline.storage.embedded import EmbeddedS3  # moto: imported here, in the child

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        keys = _read_keys(sys.stdin.readline())
        server = EmbeddedS3(host, 0, keys=keys).start()
    except ConfigError as exc:
        print(f"error: {exc}", flush=True)
        return
    _warm(server.endpoint_url, keys)
    # moto and its S3 service are built for good: full collections while serving skip
    # them (one over that heap holds a request up for 20 to 60 ms).
    gc.freeze()
    print(server.endpoint_url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


def _key_line(keys: KeyPair) -> str:
    """The key pair as the one line the child reads first."""
    return json.dumps({"id": keys.access_key_id, "secret": keys.secret_access_key}) + "\n"


def _read_keys(line: str) -> KeyPair:
    """The key pair from :func:`_key_line`'s line (ConfigError when it is not one)."""
    try:
        fields = json.loads(line)
        return KeyPair(str(fields["id"]), str(fields["secret"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("the embedded S3 server was given no key pair on stdin") from exc


def _warm(endpoint_url: str, keys: KeyPair) -> None:
    """Answer signed requests before saying we are ready: moto builds its S3 service on
    the first one (a third of a second), and its error answers on the first object it
    cannot find (25 ms), both of which would otherwise land on the parent's calls (a job's
    first look at a rollup that is not there yet). Unsigned, the gate would refuse them
    before moto. The store is empty: the second names a bucket it does not hold."""
    import urllib.request

    from botocore.auth import S3SigV4Auth  # moto's own dependency: already loaded here
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = S3SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "s3", "us-east-1")
    for url in (endpoint_url + "/", endpoint_url + "/reelpipe-warm/missing"):
        request = AWSRequest(method="GET", url=url)
        signer.add_auth(request)
        signed = urllib.request.Request(url, headers=dict(request.headers.items()))
        # Any answer (even an error status) built what it was sent for.
        with contextlib.suppress(OSError):
            urllib.request.urlopen(signed, timeout=10).close()


if __name__ == "__main__":
    serve_until_stdin_closes(sys.argv[1] if len(sys.argv) > 1 else EMBEDDED_HOST)

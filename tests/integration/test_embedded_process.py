"""The embedded S3 server in a child process: a real S3 endpoint, and never left behind,
not even when its parent is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from pydantic import SecretStr

from pipeline.core.settings import Settings
from pipeline.storage.connection import connect
from pipeline.storage.embedded_process import EmbeddedS3Process

PARENT = """
import sys, time
from pipeline.storage.embedded_process import EmbeddedS3Process
server = EmbeddedS3Process().start()
print(server.endpoint_url, server._proc.pid, flush=True)
time.sleep(600)
"""


def refuses(endpoint: str) -> bool:
    url = urlparse(endpoint)
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((url.hostname or "", url.port or 0)) != 0


def gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_it_serves_s3_and_stops_with_the_connection(tmp_path: object) -> None:
    """The connection signs with the child's own random key pair, which never shows on
    the child's command line."""
    server = EmbeddedS3Process().start()
    assert server._proc is not None
    cmdline = Path(f"/proc/{server._proc.pid}/cmdline").read_bytes().decode()
    assert server.keys.secret_access_key not in cmdline
    with connect(Settings(bucket="child-bucket"), server=server) as conn:
        conn.bucket.put_json("users/u/x.json", {"n": 1})
        assert conn.bucket.get_json("users/u/x.json").data == {"n": 1}
        endpoint = conn.settings.storage.endpoint_url
        assert conn.settings.storage.access_key_id == SecretStr(server.keys.access_key_id)
        assert conn.settings.storage.secret_access_key == SecretStr(server.keys.secret_access_key)
    assert endpoint is not None and refuses(endpoint)
    assert EmbeddedS3Process().keys != server.keys  # a fresh pair for each store


def test_a_killed_parent_takes_its_server_with_it() -> None:
    """SIGKILL the parent: the child sees its stdin close and exits; the port is free."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    endpoint, pid = parent.stdout.readline().split()
    assert not refuses(endpoint)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert gone(int(pid), within_s=10.0)
    assert refuses(endpoint)


def test_ctrl_c_reaches_the_parent_not_the_server() -> None:
    """SIGINT to the process group (Ctrl-C) leaves the server up for the parent's last
    writes; it goes when the parent lets it go."""
    server = EmbeddedS3Process().start()
    endpoint = server.endpoint_url
    proc = server._proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None and not refuses(endpoint)
    server.stop()
    assert proc.poll() is not None and refuses(endpoint)

"""serve's embedded store signs with a secret it made, not one written in the source."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.faults import announcement, free_ports, reaped, spawn


def test_serve_makes_keeps_and_shares_its_secret_key(tmp_path: Path) -> None:
    """The key is made once and kept private in the data directory; the old public
    secret is refused; the local commands sign with the kept key by themselves."""
    port, web_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REELPIPE_"))}
    env["REELPIPE_WARM"] = "off"  # each command in its own process (the warm tests: their own)
    env |= {"XDG_DATA_HOME": str(tmp_path / "xdg"), "REELPIPE_SCRATCH_DIR": str(tmp_path)}
    args = ("serve", "--port", str(port), "--webhook-port", str(web_port))
    with reaped(spawn(*args, env=env)) as server:
        announced = announcement(server)
        kept = tmp_path / "xdg" / "reelpipe" / "s3-secret-key"
        assert kept.read_text().strip() == announced["secret key"]
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        endpoint = announced["S3 endpoint"]
        for secret, allowed in (("reelpipe-local-secret", False), (announced["secret key"], True)):
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="reelpipe-local",
                aws_secret_access_key=secret,
                region_name="us-east-1",
            )
            if allowed:
                s3.list_objects_v2(Bucket="reelpipe")
            else:
                with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
                    s3.list_objects_v2(Bucket="reelpipe")
        listing = spawn(
            "jobs", "--user", "alice", "--json", env={**env, "REELPIPE_ENDPOINT_URL": endpoint}
        )
        out, err = listing.communicate(timeout=60)
        assert listing.returncode == 0, err
        assert json.loads(out)["jobs"] == []
        server.terminate()
        server.wait(timeout=30)

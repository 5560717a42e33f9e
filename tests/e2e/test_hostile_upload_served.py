"""A playlist uploaded to a running `reelpipe serve` opens nothing it names."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3

from pipeline.core.keys import job_id_for
from tests.e2e.test_lifecycle import PYTHON_CLI, served  # noqa: F401  (the fixture)
from tests.factories import ffmpeg, job_manifest, make_clip
from tests.integration.test_hostile_clips import RequestLogger, hls


def test_serve_fails_a_playlist_upload_without_a_request_or_a_read(
    served: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    _, announced = served  # type: ignore[misc]
    secret, _ = make_clip(tmp_path, "secret.mp4", duration_s=1.0)
    segment = tmp_path / "secret.ts"
    ffmpeg("-i", str(secret), "-c", "copy", str(segment))
    logger = RequestLogger()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=announced["S3 endpoint"],
            aws_access_key_id=announced["access key"],
            aws_secret_access_key=announced["secret key"],
            region_name="us-east-1",
        )
        playlist = hls(f"file://{segment}", f"{logger.url}/segment.ts")
        s3.put_object(Bucket="reelpipe", Key="users/alice/clips/game.mp4", Body=playlist)
        body = json.dumps({"input_key": "clips/game.mp4", **job_manifest(framing={})})
        put = s3.put_object(Bucket="reelpipe", Key="inbox/alice/req-1.json", Body=body)
        job_id = job_id_for("inbox/alice/req-1.json", put["ETag"])
        env = {
            **os.environ,
            "REELPIPE_ENDPOINT_URL": announced["S3 endpoint"],
            "AWS_ACCESS_KEY_ID": announced["access key"],
            "AWS_SECRET_ACCESS_KEY": announced["secret key"],
        }
        watched = subprocess.run(
            [*PYTHON_CLI, "status", job_id, "--user", "alice", "--watch", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        status = json.loads(watched.stdout)
        assert status["state"] == "failed", status
        assert status["error"]["kind"] == "invalid_media"
        assert "not a video container: hls" in status["error"]["message"]
        assert str(tmp_path) not in status["error"]["message"]
        assert logger.requests == []
    finally:
        logger.close()

"""The job commands an operator runs: status by request, jobs, cancel, url, download, each
with --json, against the test S3 server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.jobs.compose import local_worker
from pipeline.manifests.status import StatusManifest
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key-do-not-log")
    monkeypatch.chdir(tmp_path)
    return [
        "--endpoint-url",
        str(settings.storage.endpoint_url),
        "--bucket",
        settings.storage.bucket,
    ]


def _done_job(bucket: Bucket, settings: Settings, tmp_path: Path, tag: str) -> StatusManifest:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    doc = {
        "input_key": upload_clip(bucket, "u", clip),
        **job_manifest(overlay={"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}),
    }
    job = claim(bucket, submit_manifest(bucket, "u", doc, request_id=tag).inbox_key)
    assert job is not None
    worker = local_worker(bucket, settings)
    status = worker.run(job)
    worker.close()
    assert status is not None
    return status


def test_jobs_status_url_and_download_print_json(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    cli: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    done = _done_job(bucket, settings, tmp_path, "req-cli")
    capsys.readouterr()  # the job's own log lines
    assert main(["status", "--request", "req-cli", "--user", "u", "--json", *cli]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == done.job_id
    assert main(["jobs", "--user", "u", "--json", *cli]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [j["job_id"] for j in listed["jobs"]] == [done.job_id]
    assert listed["jobs"][0]["poster_key"] == done.outputs["poster"]
    assert main(["jobs", "--user", "u", "--state", "failed", "--json", *cli]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"] == []
    assert main(["url", done.job_id, "--user", "u", "--expires", "60", "--json", *cli]) == 0
    assert "X-Amz-Signature" in json.loads(capsys.readouterr().out)["url"]
    out = tmp_path / "dl"
    assert main(["download", done.job_id, "--user", "u", "--out", str(out), "--json", *cli]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert set(paths) == {"output", "poster", "preview", "status"}
    assert all(Path(p).is_file() for p in paths.values())
    assert main(["cancel", done.job_id, "--user", "u", *cli]) == 0
    assert "already succeeded" in capsys.readouterr().out


def test_unknown_jobs_and_requests_exit_1_with_a_message(
    bucket: Bucket, cli: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--request", "nope", "--user", "u", *cli]) == 1
    assert "no request 'nope'" in capsys.readouterr().err
    assert main(["cancel", "0" * 20, "--user", "u", *cli]) == 1
    assert main(["url", "0" * 20, "--user", "u", *cli]) == 1
    assert "no job" in capsys.readouterr().err
    assert main(["status", "--user", "u", *cli]) == 2  # neither a job nor --request

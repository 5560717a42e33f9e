"""``reelpipe`` as a user runs it: a real process, the embedded S3 or a test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.settings import EncodeProfile, Settings
from pipeline.media.sample import write_sample_clip
from pipeline.storage.bucket import Bucket
from tests.factories import DOCUMENTED_MANIFEST
from tests.media_checks import assert_playable_everywhere


def reelpipe(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process (fast x264 preset to keep the suite quick)."""
    full_env = {**os.environ, "REELPIPE_X264_PRESET": "veryfast", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def printed_paths(stdout: str) -> dict[str, Path]:
    lines = dict(line.split(":", 1) for line in stdout.splitlines() if ":" in line)
    return {
        k.strip(): Path(v.strip()) for k, v in lines.items() if k.strip() in ("output", "status")
    }


def test_process_runs_the_documented_manifest(tmp_path: Path) -> None:
    """The issue's example manifest on a 1080p clip: a 608x1080 reel with 8 s of video and audio."""
    clip = tmp_path / "game1.mp4"
    write_sample_clip(
        clip,
        width=1920,
        height=1080,
        duration_s=8.5,
        profile=EncodeProfile(preset="ultrafast", crf=20),
    )
    manifest = tmp_path / "job.json"
    doc = {k: v for k, v in DOCUMENTED_MANIFEST.items() if k != "input_key"}
    manifest.write_text(json.dumps(doc))
    run = reelpipe("process", str(clip), "--manifest", str(manifest), "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    paths = printed_paths(run.stdout)
    assert paths["output"] == (tmp_path / "out" / "output.mp4").resolve()
    facts = assert_playable_everywhere(paths["output"])
    assert (facts.video.width, facts.video.height) == (608, 1080)
    assert abs(facts.video.frames - 240) <= 1
    assert facts.audio is not None
    assert abs(facts.audio.duration_s - facts.video.duration_s) < 0.05
    status = json.loads(paths["status"].read_text())
    assert status["state"] == "succeeded"
    assert status["progress"]["percent"] == 100.0
    assert [s["state"] for s in status["stages"].values()] == ["succeeded", "succeeded"]


def test_process_without_a_clip_uses_the_sample(tmp_path: Path) -> None:
    """The README's first command: the generated sample, end to end, paths printed."""
    run = reelpipe("process", cwd=tmp_path, env={"REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch")})
    assert run.returncode == 0, run.stderr
    paths = printed_paths(run.stdout)
    assert paths["output"].is_file() and paths["status"].is_file()
    assert paths["output"].parent.parent == (tmp_path / "reelpipe-out").resolve()
    facts = assert_playable_everywhere(paths["output"])
    assert facts.video.height == 720 and facts.audio is not None
    assert '"event": "stage_finished"' in run.stderr


def test_corrupt_clip_fails_clearly_and_keeps_the_upload(
    tmp_path: Path, settings: Settings, bucket: Bucket
) -> None:
    """Non-zero exit, the error printed, a failed status.json, the input intact in the bucket."""
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x20ftypisom" + os.urandom(50_000))
    env = {
        "REELPIPE_ENDPOINT_URL": str(settings.storage.endpoint_url),
        "REELPIPE_BUCKET": settings.storage.bucket,
        "AWS_ACCESS_KEY_ID": "test-access-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key-do-not-log",
    }
    run = reelpipe("process", str(bad), "--out", "out", cwd=tmp_path, env=env)
    assert run.returncode == 1
    assert "invalid_media" in run.stderr and "not a readable video" in run.stderr
    assert "test-secret-key-do-not-log" not in run.stderr + run.stdout
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["error"]["kind"] == "invalid_media"
    assert not (tmp_path / "out" / "output.mp4").exists()
    assert bucket.get_bytes(status["input_key"])[0] == bad.read_bytes()


def test_missing_clip_file_is_a_usage_error(tmp_path: Path) -> None:
    """A path that does not exist exits 2 before anything starts."""
    run = reelpipe("process", "nope.mp4", cwd=tmp_path)
    assert run.returncode == 2
    assert "no such clip" in run.stderr


@pytest.mark.parametrize("name", ["job", "status"])
def test_schema_prints_json_schemas(tmp_path: Path, name: str) -> None:
    """`reelpipe schema NAME` prints a JSON Schema document."""
    run = reelpipe("schema", name, cwd=tmp_path)
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    assert schema["type"] == "object" and schema["additionalProperties"] is False


def test_process_imports_nothing_heavy_and_keeps_moto_in_its_child(tmp_path: Path) -> None:
    """The process path loads no torch, ultralytics, fastapi or modal, and the embedded
    S3 (moto) lives in the child process it starts, not in the CLI's."""
    clip = tmp_path / "clip.mp4"
    write_sample_clip(clip, width=160, height=90, duration_s=0.5)
    heavy = ("torch", "ultralytics", "fastapi", "modal", "moto")
    code = (
        "import sys; from pipeline.cli.main import main; "
        f"code = main(['process', {str(clip)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules), code)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELPIPE_ENDPOINT")}
    env["REELPIPE_SCRATCH_DIR"] = str(tmp_path / "scratch")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[] 0"

"""What the CLI says to a new user: warnings where they are seen, an empty listing said
out loud, every state it prints documented, a reused request id explained, and help and
errors that say how to go on. Real processes against the test store."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pipeline.cli.main import SCHEMA_NAMES
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.manifests.schema import SCHEMAS
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.faults import spawn, worker_env

README = Path(__file__).resolve().parents[2] / "README.md"
CLAMPED = job_manifest(framing={"trim": {"start_s": 0.0, "end_s": 30.0}})


def run(*args: str, env: dict[str, str], timeout_s: float = 120) -> tuple[int, str, str]:
    proc = spawn(*args, env=env)
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err


def said(err: str) -> list[str]:
    """stderr without the JSON log lines."""
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.strip() and not line.startswith("{")]


def test_warnings_are_printed_after_process_status_and_watch(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A trim past the clip's end is clamped, not refused: each command ends with a
    `warning:` line naming it on stderr (the status's `warnings`)."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(CLAMPED))
    env = worker_env(settings)
    code, out, err = run(
        "process", str(clip), "--manifest", str(manifest), "--out", str(tmp_path / "out"), env=env
    )
    assert code == 0, err
    assert said(err) == [
        "warning: framing.trim.end_s (30 s) is past the end of the clip (1.00 s): "
        "the trim ends with the clip"
    ]
    job_id = out.split()[1]
    for extra in ([], ["--watch"], ["--json"]):
        code, _, err = run("status", job_id, "--user", "local", *extra, env=env)
        assert code == 0, err
        assert [line for line in said(err) if line.startswith("warning:")] == said(err)[-1:]
        assert "framing.trim.end_s (30 s)" in said(err)[-1], (extra, err)


def test_jobs_with_nothing_to_list_says_no_jobs(bucket: Bucket, settings: Settings) -> None:
    """`jobs` for a user with no jobs: "no jobs" on stderr (stdout stays one line per job);
    `--json` prints the document with an empty list and nothing else."""
    code, out, err = run("jobs", "--user", "nobody", "--state", "running", env=worker_env(settings))
    assert code == 0, err
    assert out == ""
    assert said(err) == ["no jobs for user nobody (state running)"]
    code, out, err = run("jobs", "--user", "nobody", "--json", env=worker_env(settings))
    assert code == 0 and json.loads(out)["jobs"] == [] and said(err) == []


def test_every_state_status_prints_is_in_the_readme(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Before the claim `status --json` says `submitted`: the README's list of states
    names it, with the status manifest's own."""
    clip, _ = make_clip(tmp_path, duration_s=0.5, audio=False)
    relative = upload_clip(bucket, "u", clip)
    pending = submit_manifest(bucket, "u", {"input_key": relative, **job_manifest(framing={})})
    code, out, err = run(
        "status", pending.job_id, "--user", "u", "--json", env=worker_env(settings)
    )
    assert code == 0, err
    state = json.loads(out)["state"]
    assert state == "submitted"
    section = README.read_text().split("## The status manifest", 1)[1][:1200]
    assert f"`{state}`" in section
    for name in ("queued", "waiting_for_input", "running", "succeeded", "failed", "cancelled"):
        assert f"`{name}`" in section


def test_status_of_a_reused_request_shows_its_newest_job_and_says_so(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A corrected manifest uploaded under the same request id: `status --request` shows
    the new job, says the request was uploaded again and names the first."""
    clip, _ = make_clip(tmp_path, duration_s=0.5, audio=False)
    relative = upload_clip(bucket, "u", clip)
    jobs = []
    for aspect in ("16:9", "9:16"):
        doc = {"input_key": relative, **job_manifest(framing={"aspect": aspect})}
        job = claim(bucket, submit_manifest(bucket, "u", doc, request_id="req-7").inbox_key)
        assert job is not None
        jobs.append(job.job_id)
    env = worker_env(settings)
    code, out, err = run("status", "--request", "req-7", "--user", "u", "--json", env=env)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["job_id"] == jobs[1] and shown["replaces"] == jobs[0]
    assert said(err) == [
        f"note: request req-7 was uploaded again: showing its newest job {jobs[1]} "
        f"(its first was {jobs[0]})"
    ]
    code, out, _ = run("status", jobs[0], "--user", "u", env=env)
    assert f"superseded by: {jobs[1]}" in out


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"stages": {"framming": {}}}, "stages.framming: unknown field, did you mean 'framing'?"),
        ({"stages": {"framing": {"aspect": "916"}}}, "aspect must look like 9:16"),
    ],
)
def test_a_manifest_mistake_says_how_to_fix_it(
    settings: Settings, tmp_path: Path, doc: dict[str, object], says: str
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=0.5, audio=False)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(doc))
    code, _, err = run("process", str(clip), "--manifest", str(manifest), env=worker_env(settings))
    assert code == 2
    (line,) = said(err)
    assert says in line and "pattern" not in line and "Extra inputs" not in line, line


@pytest.mark.parametrize("command", ["process", "plan", "submit"])
def test_a_directory_given_as_the_clip_is_no_such_clip(
    settings: Settings, tmp_path: Path, command: str
) -> None:
    code, _, err = run(command, str(tmp_path), env=worker_env(settings))
    assert code == 2
    (line,) = said(err)
    assert line.startswith(f"error: no such clip: {tmp_path} is a directory"), line


BLOCK_MODAL = """
import sys
from importlib.abc import MetaPathFinder


class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "modal":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
"""


def test_verify_without_the_modal_extra_says_once_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "no-modal"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_MODAL)
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    code, out, err = run("verify", env=env, timeout_s=60)
    assert code == 2 and out == ""
    assert said(err) == [
        "error: `reelpipe verify` needs the modal extra: "
        "pip install -e '.[modal]' (or pip install 'reelpipe[modal]')"
    ]


def test_schema_help_lists_every_schema() -> None:
    assert tuple(SCHEMAS) == SCHEMA_NAMES
    code, out, _ = run("schema", "--help", env=dict(os.environ), timeout_s=60)
    assert code == 0
    for name in SCHEMAS:
        assert re.search(rf"\b{re.escape(name)}\b", out), name
    code, out, _ = run("schema", "detections", env=dict(os.environ), timeout_s=60)
    assert code == 0 and json.loads(out)["title"] == "Detections"


def test_the_top_level_help_speaks_to_users() -> None:
    """No developer docstring: what the tool does, where to start, the exit codes."""
    code, out, _ = run("--help", env=dict(os.environ), timeout_s=60)
    assert code == 0
    assert "parse arguments" not in out and "Settings" not in out
    assert "reelpipe process" in out and "143 SIGTERM" in out

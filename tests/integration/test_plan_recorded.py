"""Every stage records the planner's estimate (``plan_s``) beside what it took
(``duration_s``, its wall time), so drift between the two is visible in every status,
and ``status`` and ``process`` print both, a line per stage."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.settings import Settings
from pipeline.jobs.plan import stage_seconds
from pipeline.manifests.job import StageName, parse_job_manifest
from pipeline.media.probe import probe
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.faults import spawn, worker_env
from tests.stage_runs import run_job

OVERLAY = {"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}


def test_each_stage_records_its_plan_beside_its_wall_time(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = job_manifest(framing={"aspect": "9:16"}, overlay=OVERLAY)
    status = run_job(bucket, settings, clip, manifest, "planned")
    stages = parse_job_manifest({"input_key": "clips/clip.mp4", **manifest}).stages
    expected = stage_seconds(stages, probe(clip), settings, machine="cpu")
    for name, seconds in zip((StageName.FRAMING, StageName.OVERLAY), expected, strict=True):
        record = status.stages[name]
        assert record.plan_s == round(seconds, 3) and record.plan_s > 0, name
        assert record.duration_s is not None and record.duration_s > 0
    # The two run fused here: what is recorded is the one pass, not the stages apart.
    apart = stage_seconds(stages, probe(clip), settings.replace(fuse=False), machine="cpu")
    assert sum(s.plan_s or 0.0 for s in status.stages.values()) < sum(apart) - 0.5
    shown = spawn("status", status.job_id, "--user", "u", env=worker_env(settings))
    out, err = shown.communicate(timeout=60)
    assert shown.returncode == 0, err
    framing = next(line for line in out.splitlines() if line.strip().startswith("framing"))
    record = status.stages[StageName.FRAMING]
    assert f"took {record.duration_s:.1f}s, planned {record.plan_s:.1f}s" in framing, out


def test_process_prints_each_stage_planned_beside_took(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """``reelpipe process`` ends with a line per stage: what it took and what was planned."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"schema_version": 1, "stages": {"framing": {}}}))
    out_dir = tmp_path / "out"
    run = spawn(
        "process",
        str(clip),
        "--manifest",
        str(manifest),
        "--out",
        str(out_dir),
        env=worker_env(settings),
    )
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    status = json.loads((out_dir / "status.json").read_text())
    record = status["stages"]["framing"]
    line = next(line for line in out.splitlines() if line.strip().startswith("framing"))
    assert f"took {record['duration_s']:.1f}s, planned {record['plan_s']:.1f}s" in line, out

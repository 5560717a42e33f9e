"""Every stage records the planner's estimate (``plan_s``) beside what it took
(``duration_s``), so drift between the two is visible in every status."""

from __future__ import annotations

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
    shown = spawn("status", status.job_id, "--user", "u", env=worker_env(settings))
    out, err = shown.communicate(timeout=60)
    assert shown.returncode == 0, err
    framing = next(line for line in out.splitlines() if line.strip().startswith("framing"))
    assert f"(plan {status.stages[StageName.FRAMING].plan_s:.1f}s)" in framing, out

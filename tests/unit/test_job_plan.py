"""Job plans: the seed's cost model per stage, and ``reelpipe plan``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.core.settings import Settings
from pipeline.jobs.plan import plan_job
from pipeline.manifests.job import StageName, Stages
from pipeline.media.probe import VideoInfo
from tests.factories import make_clip

BOXES = {"highlight": {"boxes": [[0, 10, 10, 20, 40]]}}


def clip_info(seconds: float, fps: int = 30) -> VideoInfo:
    return VideoInfo(
        width=1920,
        height=1080,
        rotation=0,
        fps=Fraction(fps),
        frame_count=round(seconds * fps),
        duration_s=seconds,
        codec="h264",
        pix_fmt="yuv420p",
        has_audio=True,
        audio_codec="aac",
        size_bytes=1,
    )


def test_a_sixty_second_overlay_gets_two_t4s_as_in_the_seed() -> None:
    """1,800 frames: 2 workers, 27 s, 44 GPU-s; the other counts listed as alternatives."""
    plan = plan_job(Stages.model_validate({"overlay": BOXES}), clip_info(60), Settings())
    (overlay,) = plan.stages
    assert (overlay.stage, overlay.machine, overlay.chosen.workers) == (StageName.OVERLAY, "T4", 2)
    assert (overlay.chosen.wall_s, overlay.chosen.gpu_s) == pytest.approx((27.0, 44.0))
    assert overlay.chosen.cost_usd == pytest.approx(44.0 * 0.000463)
    assert [e.workers for e in overlay.alternatives] == [1, 4, 8]
    assert plan.total_cost_usd == pytest.approx(overlay.chosen.cost_usd)


def test_framing_changes_the_frames_later_stages_see() -> None:
    """A 10 s trim of a 2-minute clip: the overlay plans 300 frames on one worker."""
    stages = Stages.model_validate(
        {"framing": {"trim": {"start_s": 5, "end_s": 15}}, "overlay": BOXES}
    )
    plan = plan_job(stages, clip_info(120), Settings())
    framing, overlay = plan.stages
    assert (framing.machine, framing.frames, framing.chosen.workers) == ("cpu", 3600, 1)
    assert (overlay.frames, overlay.chosen.workers) == (300, 1)


def test_settings_cap_and_force_the_worker_count() -> None:
    """max_segment_workers caps the thresholds; segment_workers forces a count."""
    stages = Stages.model_validate({"overlay": BOXES})
    assert (
        plan_job(stages, clip_info(600), Settings(max_segment_workers=4)).stages[0].chosen.workers
        == 4
    )
    assert (
        plan_job(stages, clip_info(10), Settings(segment_workers=3)).stages[0].chosen.workers == 3
    )


def test_plan_command_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``reelpipe plan CLIP --manifest F --json`` gives stages, workers, GPU, time, cost."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"stages": {"framing": {}, "overlay": BOXES}}))
    assert main(["plan", str(clip), "--manifest", str(manifest), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(s["stage"], s["gpu"], s["workers"]) for s in doc["stages"]] == [
        ("framing", "cpu", 1),
        ("overlay", "T4", 1),
    ]
    assert {"est_wall_s", "est_cost_usd"} <= set(doc["stages"][1])
    assert doc["total_cost_usd"] == pytest.approx(
        sum(s["est_cost_usd"] for s in doc["stages"]), abs=1e-4
    )

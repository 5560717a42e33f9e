"""Job plans: the cost model per stage (a GPU-second by kind, reserved cores and memory, a
container's start), and ``reelpipe plan``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.core.settings import Settings
from pipeline.jobs.plan import Objective, plan_job
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
    """With NVENC the overlay runs on a T4 (2 cores, 4 GiB): 1,800 frames get 2 workers,
    27 s, 44 machine-seconds, priced from the rates table; other counts are alternatives."""
    settings = Settings(video_encoder="h264_nvenc")
    plan = plan_job(Stages.model_validate({"overlay": BOXES}), clip_info(60), settings)
    (overlay,) = plan.stages
    assert (overlay.stage, overlay.machine, overlay.chosen.workers) == (StageName.OVERLAY, "T4", 2)
    assert (overlay.chosen.wall_s, overlay.chosen.gpu_s) == pytest.approx((27.0, 44.0))
    rates = settings.costs.rates
    per_second = (
        rates.gpu_usd_per_s["T4"] + 2 * rates.cpu_core_usd_per_s + 4 * (rates.memory_gib_usd_per_s)
    )
    assert overlay.chosen.cost_usd == pytest.approx(44.0 * per_second)
    assert [e.workers for e in overlay.alternatives] == [1, 4, 8]
    assert plan.total_cost_usd == pytest.approx(overlay.chosen.cost_usd)


def test_the_time_objective_takes_the_fastest_count() -> None:
    """The seed: 2 GPUs for cost-sensitive 30-90 s clips, more when time matters."""
    stages = Stages.model_validate({"overlay": BOXES})
    settings = Settings(video_encoder="h264_nvenc")
    cheap = plan_job(stages, clip_info(60), settings, Objective.COST).stages[0]
    fast = plan_job(stages, clip_info(60), settings, Objective.TIME).stages[0]
    assert (cheap.chosen.workers, fast.chosen.workers) == (2, 8)
    assert fast.chosen.wall_s < cheap.chosen.wall_s and fast.chosen.cost_usd > cheap.chosen.cost_usd
    short = plan_job(stages, clip_info(10), settings, Objective.TIME).stages[0]
    assert short.chosen.workers == 1  # below ~16 s one machine is also the fastest


def test_fused_stages_are_planned_as_one_call() -> None:
    """Framing and overlay share a CPU function: the overlay runs whole and pays no
    second container start."""
    stages = Stages.model_validate({"framing": {}, "overlay": BOXES})
    _framing, overlay = plan_job(stages, clip_info(60), Settings()).stages
    assert overlay.chosen.workers == 1 and overlay.alternatives == []
    apart = plan_job(stages, clip_info(60), Settings(fuse=False)).stages[1]
    assert apart.chosen.workers == 2
    # Inside the pass it neither starts a container nor decodes: less than alone on one.
    alone = plan_job(Stages.model_validate({"overlay": BOXES}), clip_info(60), Settings())
    one = next(e for e in [alone.stages[0].chosen, *alone.stages[0].alternatives] if e.workers == 1)
    assert overlay.chosen.wall_s < one.wall_s - Settings().costs.compute["cpu"].startup_s


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
        ("overlay", "cpu", 1),
    ]
    assert doc["objective"] == "cost"
    assert {r["name"]: r["measured"] for r in doc["rates"]}["CPU core /s"] is False
    assert {"est_wall_s", "est_cost_usd"} <= set(doc["stages"][1])
    assert doc["total_cost_usd"] == pytest.approx(
        sum(s["est_cost_usd"] for s in doc["stages"]), abs=1e-4
    )

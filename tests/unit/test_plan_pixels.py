"""The planner prices stages by the pixels they decode and encode, per mode, and plans a
fused local group as the one pass it is."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli.main import main
from pipeline.core.machines import ComputeProfile
from pipeline.core.settings import Settings
from pipeline.jobs.pass_model import stage_shapes
from pipeline.jobs.plan import LOCAL_MACHINE, plan_job, stage_seconds
from pipeline.manifests.job import StageName, Stages
from pipeline.media.probe import VideoInfo
from tests.factories import make_clip

BOXES = {"highlight": {"boxes": [[0, 100, 50, 40, 80]]}}
SLOW = {"start_s": 4.0, "end_s": 6.0, "factor": 0.5}


def clip_info(width: int = 1920, height: int = 1080, seconds: float = 20.0) -> VideoInfo:
    return VideoInfo(
        width=width,
        height=height,
        rotation=0,
        fps=Fraction(30),
        frame_count=round(seconds * 30),
        duration_s=seconds,
        codec="h264",
        pix_fmt="yuv420p",
        has_audio=True,
        audio_codec="aac",
        size_bytes=1,
    )


def local_seconds(stages: dict[str, Any], info: VideoInfo, settings: Settings) -> list[float]:
    return stage_seconds(Stages.model_validate(stages), info, settings, machine=LOCAL_MACHINE)


def test_a_fused_local_job_is_planned_as_one_pass_not_the_sum() -> None:
    """Framing and overlay fused locally decode and encode once: the plan saves the
    overlay's own start and decode and framing's encode, exactly."""
    stages = {"framing": {"aspect": "9:16"}, "overlay": BOXES}
    info = clip_info()
    fused = local_seconds(stages, info, Settings())
    apart = local_seconds(stages, info, Settings(fuse=False))
    cpu = Settings().costs.compute[LOCAL_MACHINE]
    framing, overlay = stage_shapes(Stages.model_validate(stages), info, Settings())
    framing_cost, overlay_cost = cpu.pass_cost("framing"), cpu.pass_cost("overlay")
    assert framing_cost is not None and overlay_cost is not None
    saved = (
        framing_cost.encode_s_per_mpx * framing.mpx_out
        + framing_cost.encode_s_per_frame * framing.frames_out
        + overlay_cost.start_s
        + overlay_cost.decode_s_per_mpx * overlay.mpx_in
    )
    assert sum(fused) < sum(apart)
    assert sum(apart) - sum(fused) == pytest.approx(saved)
    assert framing.mpx_out == overlay.mpx_in > 0  # the overlay sees framing's crop


@pytest.mark.parametrize(
    ("stages", "stage"),
    [
        ({"framing": {}}, "framing"),
        ({"overlay": BOXES}, "overlay"),
        ({"upscale": {"scale": 2}}, "upscale"),
        ({"detect": {"backend": "motion"}}, "detect"),
    ],
)
def test_a_larger_frame_is_planned_proportionally_slower(
    stages: dict[str, Any], stage: str
) -> None:
    """Four times the pixels, the same frames: four times the per-pixel seconds (the
    pass's start and per-frame work stay)."""
    settings = Settings()
    cost = settings.costs.compute[LOCAL_MACHINE].pass_cost(stage)
    assert cost is not None
    frames = clip_info().frame_count
    fixed = cost.start_s + (cost.step_s_per_frame + cost.encode_s_per_frame) * frames
    small = local_seconds(stages, clip_info(960, 540), settings)[0] - fixed
    large = local_seconds(stages, clip_info(1920, 1080), settings)[0] - fixed
    assert small > 0
    assert large == pytest.approx(4 * small)


def test_a_machine_planned_by_frame_rate_scales_it_by_pixels() -> None:
    """A GPU's frames a second were measured at 1080p: a 4K clip takes four times as long,
    a 540p one a quarter (a profile given without per-pixel figures, as configured before)."""
    settings = Settings(compute={"T4": ComputeProfile(fps={"overlay": 60.0})})
    stages = Stages.model_validate({"overlay": BOXES})
    hd = stage_seconds(stages, clip_info(1920, 1080), settings, machine="T4")[0]
    uhd = stage_seconds(stages, clip_info(3840, 2160), settings, machine="T4")[0]
    assert hd == pytest.approx(600 / 60.0)
    assert uhd == pytest.approx(4 * hd)


def test_interpolated_slow_motion_is_planned_slower_than_blended() -> None:
    """The same two slowed seconds: motion-compensated frames cost more than blended ones,
    which cost more than none; the extra grows with the slowed frames."""
    info = clip_info()

    def framing(*speed: dict[str, Any]) -> float:
        return local_seconds({"framing": {"speed": list(speed)}}, info, Settings())[0]

    plain = framing()
    blend = framing({**SLOW, "interpolate": "blend"})
    motion = framing({**SLOW, "interpolate": "motion"})
    longer = framing({**SLOW, "end_s": 8.0, "interpolate": "motion"})
    assert plain < blend < motion < longer
    assert longer - plain > 1.5 * (motion - plain)


def test_upscale_and_detect_modes_are_planned_by_their_backend(tmp_path: Path) -> None:
    """The model upscaler and YOLO cost more than the classical upscaler and the motion
    detector; ``auto`` plans whichever the settings' weights select."""
    info = clip_info(seconds=2.0)
    plain, weighted = Settings(), Settings(upscale_weights=tmp_path / "w.pt")
    classical = local_seconds({"upscale": {"backend": "classical"}}, info, plain)[0]
    model = local_seconds({"upscale": {"backend": "model"}}, info, plain)[0]
    assert model > classical
    assert local_seconds({"upscale": {}}, info, plain)[0] == classical
    assert local_seconds({"upscale": {}}, info, weighted)[0] == model
    motion = local_seconds({"detect": {"backend": "motion"}}, info, plain)[0]
    yolo = local_seconds({"detect": {"backend": "yolo"}}, info, plain)[0]
    assert yolo > motion


def test_the_local_plan_splits_a_stage_over_the_local_workers() -> None:
    """With two local workers a long overlay runs as two parts sharing the cores."""
    info = clip_info(seconds=60.0)
    whole = local_seconds({"overlay": BOXES}, info, Settings())[0]
    split = local_seconds({"overlay": BOXES}, info, Settings(local_workers=2))[0]
    assert split != whole  # the runner would split it: the plan says so


def test_plan_prints_the_local_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``reelpipe plan`` shows each stage's time here beside the Modal plan, and the
    total here is the sum of them (the fused pass, not its stages apart)."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"stages": {"framing": {"aspect": "9:16"}, "overlay": BOXES}}))
    assert main(["plan", str(clip), "--manifest", str(manifest), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    local = [s["est_local_s"] for s in doc["stages"]]
    assert all(s > 0 for s in local)
    assert doc["total_local_s"] == pytest.approx(sum(local), abs=0.02)
    assert main(["plan", str(clip), "--manifest", str(manifest)]) == 0
    text = capsys.readouterr().out
    assert "here s" in text and f"{doc['total_local_s']:.1f} s here" in text, text


def test_plan_job_carries_the_local_plan() -> None:
    """``plan_job``'s stages hold the local seconds the orchestrator records here."""
    stages = Stages.model_validate({"framing": {"aspect": "9:16"}, "overlay": BOXES})
    plan = plan_job(stages, clip_info(), Settings())
    expected = stage_seconds(stages, clip_info(), Settings(), machine=LOCAL_MACHINE)
    assert [s.local_s for s in plan.stages] == pytest.approx(expected)
    assert [s.stage for s in plan.stages] == [StageName.FRAMING, StageName.OVERLAY]

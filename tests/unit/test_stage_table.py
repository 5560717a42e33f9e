"""The stage table is the one place a stage is declared: every consumer sees every stage,
and sees it as the table says."""

from __future__ import annotations

import typing
from fractions import Fraction

import pytest

from pipeline.core.machines import DEFAULT_COMPUTE
from pipeline.core.settings import Settings
from pipeline.jobs.plan import stage_machine, stage_seconds
from pipeline.manifests.job import STAGE_ORDER, StageName, Stages, parse_job_manifest
from pipeline.media.probe import VideoInfo
from pipeline.runners.modal import STAGE_FUNCTIONS
from pipeline.stages.registry import stage_for
from pipeline.stages.table import (
    JOIN,
    PREVIEWS,
    REEL_ASSEMBLY,
    STAGE_TABLE,
    STEPS,
    Split,
    StepSpec,
)

modal = pytest.importorskip("modal")

from infra import modal_app  # noqa: E402

EVERY_STAGE = list(StageName)


def test_the_table_lists_every_stage_in_job_order() -> None:
    assert list(STAGE_TABLE) == list(STAGE_ORDER) == EVERY_STAGE


@pytest.mark.parametrize("name", EVERY_STAGE)
def test_the_manifest_takes_each_stage_with_its_table_params(name: StageName) -> None:
    field = Stages.model_fields[name.value]
    assert STAGE_TABLE[name].params in typing.get_args(field.annotation)


@pytest.mark.parametrize("name", EVERY_STAGE)
def test_each_stage_has_an_implementation_of_that_name(name: StageName) -> None:
    stage = stage_for(name)
    assert stage.name is name and stage.version


@pytest.mark.parametrize("name", EVERY_STAGE)
def test_the_modal_runner_and_app_call_the_table_function_on_its_machine(
    name: StageName,
) -> None:
    spec = STAGE_TABLE[name]
    assert STAGE_FUNCTIONS[name] == spec.modal_function  # a plain function, by that name
    info = getattr(modal_app, spec.modal_function).info()
    assert list(info.gpus) == ([(spec.machine.gpu, 1)] if spec.machine.gpu else [])
    assert (info.cpu, info.memory_mib) == (spec.machine.cpu, spec.machine.memory_mb)
    assert info.timeout == spec.timeout_s
    assert info.max_retries == spec.retries == 2  # with the first run: 3 at most, as locally


@pytest.mark.parametrize("step", list(STEPS.values()), ids=lambda step: step.name)
def test_each_step_is_a_function_of_the_app_on_its_table_machine(step: StepSpec) -> None:
    """The join of a split stage's parts, the previews call and a reel's assembly are sized
    where the stages are: each its own function, its machine (no GPU), timeout and
    retries from its row of the table (JOIN, PREVIEWS, REEL_ASSEMBLY); the runner calls
    that function for that kind of call."""
    from pipeline.runners.modal import function_for
    from pipeline.stages.base import Assembly, Call, StageRequest

    request = StageRequest("u", "j", StageName.OVERLAY, "k", None, final=True)
    kinds = {
        JOIN.modal_function: Call.of(request).joining(["p0", "p1"], {}),
        PREVIEWS.modal_function: Call.of(request).cutting("users/u/jobs/j/video.mp4", {}),
        REEL_ASSEMBLY.modal_function: Call.assembling(Assembly("u", "reel", {}, ())),
    }
    assert set(kinds) == set(STEPS)
    assert function_for(kinds[step.modal_function]) == step.modal_function
    assert function_for(Call.of(request)) == STAGE_FUNCTIONS[StageName.OVERLAY]
    info = getattr(modal_app, step.modal_function).info()
    assert list(info.gpus) == []
    assert (info.cpu, info.memory_mib) == (step.machine.cpu, step.machine.memory_mb)
    assert info.timeout == step.timeout_s
    assert info.max_retries == step.retries == 2


@pytest.mark.parametrize("name", EVERY_STAGE)
def test_the_cost_model_prices_each_stage_on_its_table_machine(name: StageName) -> None:
    machine = STAGE_TABLE[name].machine.compute
    assert stage_machine(Settings(), name) == (machine, DEFAULT_COMPUTE[machine])
    moved = Settings(stage_compute={name.value: "A10G"})  # an operator's override wins
    assert stage_machine(moved, name) == ("A10G", DEFAULT_COMPUTE["A10G"])


def test_the_planner_estimates_every_stage() -> None:
    manifest = parse_job_manifest(
        {
            "stages": {
                "detect": {},
                "framing": {"aspect": "9:16"},
                "overlay": {"highlight": {"track_id": 1}},
                "upscale": {},
            }
        }
    )
    info = VideoInfo(
        width=640,
        height=360,
        rotation=0,
        fps=Fraction(30),
        frame_count=300,
        duration_s=10.0,
        codec="h264",
        pix_fmt="yuv420p",
        has_audio=False,
        audio_codec=None,
        size_bytes=1_000_000,
    )
    seconds = stage_seconds(manifest.stages, info, Settings())
    assert len(seconds) == len(EVERY_STAGE) and all(s > 0 for s in seconds)


def test_only_frame_ranges_split_and_only_detection_overlaps() -> None:
    splits = {name: spec.split for name, spec in STAGE_TABLE.items()}
    assert splits[StageName.FRAMING] is Split.NONE  # it re-times the clip
    assert splits[StageName.DETECT] is Split.FRAMES_WITH_OVERLAP
    assert {splits[StageName.OVERLAY], splits[StageName.UPSCALE]} == {Split.FRAMES}

"""The stage table: every fact about each stage, declared once.

Its name and order, its parameters, what it writes, how it splits over
parallel workers, the machine it needs (GPU kind, CPU cores, memory, image),
its Modal function and timeout, and the weights it may load. Manifest
validation, the orchestrator's segments, both runners, the cost model's
defaults and ``infra/modal_app.py`` read it; ``tests/unit/test_stage_table.py``
checks that each of them sees every stage. Adding a stage means one module
under ``pipeline/stages/``, one row here and its class in
:mod:`pipeline.stages.registry`.

The table is light (enums and dataclasses): the Modal app imports it anywhere.

Example::

    spec = STAGE_TABLE[StageName.OVERLAY]
    spec.machine.gpu, spec.modal_function, spec.split      # ("T4", "render_overlay", FRAMES)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.manifests.base import WireModel
from pipeline.manifests.job import (
    STAGE_ORDER,
    DetectParams,
    FramingParams,
    OverlayParams,
    StageName,
    UpscaleParams,
)


class Split(StrEnum):
    """How a stage's work may be cut across parallel workers."""

    NONE = "none"  # one worker sees the whole clip (framing re-times it)
    FRAMES = "frames"  # any frame range is independent (overlay, upscale)
    FRAMES_WITH_OVERLAP = "frames-with-overlap"  # ranges start early to stitch tracks


class Artifact(StrEnum):
    """What a stage writes, as the labels of its outputs."""

    VIDEO = "video"
    DETECTIONS = "detections"
    TIMELINE = "timeline"


class Image(StrEnum):
    """The container images of ``infra/modal_app.py``."""

    BASE = "base"  # ffmpeg, PyAV, OpenCV and the pipeline
    YOLO = "yolo"  # base + torch, ultralytics, lap
    UPSCALE = "upscale"  # base + torch


@dataclass(frozen=True)
class Machine:
    """What one worker of a stage needs."""

    gpu: str | None  # a Modal GPU kind ("T4", "L4"), None: CPU only
    image: Image
    cpu: float | None = None  # cores reserved (None: Modal's default share)
    memory_mb: int | None = None  # memory reserved (None: Modal's default)

    @property
    def compute(self) -> str:
        """Its name in the cost model (``Settings.compute``): the GPU kind, or ``cpu``."""
        return self.gpu or "cpu"


@dataclass(frozen=True)
class StageSpec:
    """One row of the stage table."""

    name: StageName
    params: type[WireModel]
    outputs: tuple[Artifact, ...]
    split: Split
    machine: Machine
    modal_function: str
    timeout_s: int
    weights: tuple[str, ...] = ()  # the Settings fields naming the weights it may load
    # Retries of a failed call on Modal (the platform retries; the orchestrator does not):
    # with them a stage runs at most 3 times, as the local orchestrator's own loop allows.
    retries: int = 2

    @property
    def splits(self) -> bool:
        """Whether it may run as parallel segments."""
        return self.split is not Split.NONE

    @property
    def frame_local(self) -> bool:
        """Whether its segments' videos are joined into its output (not stitched data)."""
        return self.split is Split.FRAMES


STAGE_TABLE: dict[StageName, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec(
            name=StageName.DETECT,
            params=DetectParams,
            outputs=(Artifact.DETECTIONS,),
            split=Split.FRAMES_WITH_OVERLAP,
            machine=Machine(gpu="T4", image=Image.YOLO),
            modal_function="detect_objects",
            timeout_s=1800,
            weights=("yolo_weights",),
        ),
        StageSpec(
            name=StageName.FRAMING,
            params=FramingParams,
            outputs=(Artifact.VIDEO, Artifact.TIMELINE),
            split=Split.NONE,
            machine=Machine(gpu=None, image=Image.BASE, cpu=4.0),
            modal_function="process_framing",
            timeout_s=900,
        ),
        StageSpec(
            name=StageName.OVERLAY,
            params=OverlayParams,
            outputs=(Artifact.VIDEO,),
            split=Split.FRAMES,
            machine=Machine(gpu="T4", image=Image.BASE),
            modal_function="render_overlay",
            timeout_s=900,
        ),
        StageSpec(
            name=StageName.UPSCALE,
            params=UpscaleParams,
            outputs=(Artifact.VIDEO,),
            split=Split.FRAMES,
            machine=Machine(gpu="L4", image=Image.UPSCALE),
            modal_function="apply_upscale",
            timeout_s=1800,
            weights=("upscale_weights",),
        ),
    )
}

assert list(STAGE_TABLE) == list(STAGE_ORDER), "the table lists every stage, in job order"


def spec_for(name: StageName) -> StageSpec:
    """The table's row for ``name``."""
    return STAGE_TABLE[name]

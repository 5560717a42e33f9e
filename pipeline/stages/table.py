"""The stage table: every fact about each stage, declared once.

Its name and order, its parameters, what it writes, how it splits over
parallel workers, the machine it needs (GPU kind, CPU cores, memory, image),
its Modal function and timeout, the weights it may load, and its place in a
fused pass. Manifest
validation, the orchestrator's segments, both runners, the cost model's
defaults and ``infra/modal_app.py`` read it; ``tests/unit/test_stage_table.py``
checks that each of them sees every stage. Adding a stage means one module
under ``pipeline/stages/``, one row here and its class in
:mod:`pipeline.stages.registry`. The calls that serve a stage without being one (the
join of its segments) are declared here too (:class:`StepSpec`).

The table is light (enums and dataclasses): the Modal app imports it anywhere.

Example::

    spec = STAGE_TABLE[StageName.OVERLAY]
    spec.machine.gpu, spec.modal_function, spec.split      # (None, "render_overlay", FRAMES)
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


class PassRole(StrEnum):
    """Where a stage may sit in a fused decode -> steps -> encode pass."""

    NONE = "none"  # its own pass (detect reads frames but writes no video)
    HEAD = "head"  # only first: it produces the frames (framing re-times them in ffmpeg)
    STEP = "step"  # anywhere: it works on frames (overlay, upscale)


class Image(StrEnum):
    """The container images of ``infra/modal_app.py``."""

    BASE = "base"  # ffmpeg, PyAV, OpenCV and the pipeline
    YOLO = "yolo"  # base + torch, ultralytics
    UPSCALE = "upscale"  # base + torch


@dataclass(frozen=True)
class Machine:
    """What one worker of a stage needs."""

    gpu: str | None  # a Modal GPU kind ("T4", "L4"), None: CPU only
    image: Image
    cpu: float  # cores reserved (and paid for)
    memory_mb: int  # memory reserved (and paid for)

    @property
    def compute(self) -> str:
        """Its name in the cost model (``settings.costs.compute``): the GPU kind, or ``cpu``."""
        return self.gpu or "cpu"


@dataclass(frozen=True)
class StageSpec:
    """One row of the stage table."""

    name: StageName
    params: type[WireModel]
    outputs: tuple[Artifact, ...]
    split: Split
    machine: Machine
    modal_function: str  # its Modal function (a method of ``modal_class`` when one is named)
    timeout_s: int
    weights: tuple[str, ...] = ()  # the Settings fields naming the weights it may load
    # Retries of a failed call on Modal (the platform retries; the orchestrator does not):
    # with them a stage runs at most 3 times, as the local orchestrator's own loop allows.
    retries: int = 2
    # Its place in a fused pass with its neighbours on the same machine (REELPIPE_FUSE).
    frame_pass: PassRole = PassRole.NONE
    # Its machine when videos are encoded with NVENC (REELPIPE_VIDEO_ENCODER=h264_nvenc):
    # a stage whose work is the encode gets a GPU only then. None: always ``machine``.
    nvenc_machine: Machine | None = None
    # The Modal class whose container loads the stage's model once, at start
    # (``@modal.enter``); None: a plain function (it loads no model).
    modal_class: str | None = None

    @property
    def modal_target(self) -> str:
        """What the runner looks up: ``function`` or ``Class.method``."""
        return (
            f"{self.modal_class}.{self.modal_function}" if self.modal_class else self.modal_function
        )

    def machine_for(self, video_encoder: str) -> Machine:
        """The machine this stage is deployed on with the ``video_encoder`` setting."""
        if video_encoder == "h264_nvenc" and self.nvenc_machine is not None:
            return self.nvenc_machine
        return self.machine

    @property
    def splits(self) -> bool:
        """Whether it may run as parallel segments."""
        return self.split is not Split.NONE

    @property
    def frame_local(self) -> bool:
        """Whether its segments' videos are joined into its output (not stitched data)."""
        return self.split is Split.FRAMES


# Sized from what each stage's work needs (bench/README.md, "Right-sized machines"):
# x264 at 1080p keeps 4 cores busy at about real time; decode + drawing add little;
# the models' batches of 1080p frames and their activations want 8 GiB.
_ENCODE_CPU = Machine(gpu=None, image=Image.BASE, cpu=4.0, memory_mb=4096)
_ENCODE_NVENC = Machine(gpu="T4", image=Image.BASE, cpu=2.0, memory_mb=4096)

# The functions that only coordinate (the orchestrator, the scan, the webhook, the
# nightly run): half a core and 1 GiB, for the ledger and ``infra/modal_app.py``.
COORDINATOR = Machine(gpu=None, image=Image.BASE, cpu=0.5, memory_mb=1024)

STAGE_TABLE: dict[StageName, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec(
            name=StageName.DETECT,
            params=DetectParams,
            outputs=(Artifact.DETECTIONS,),
            split=Split.FRAMES_WITH_OVERLAP,
            machine=Machine(gpu="T4", image=Image.YOLO, cpu=4.0, memory_mb=8192),
            modal_function="detect_objects",
            timeout_s=1800,
            weights=("yolo_weights",),
            modal_class="ObjectDetection",
        ),
        StageSpec(
            name=StageName.FRAMING,
            params=FramingParams,
            outputs=(Artifact.VIDEO, Artifact.TIMELINE),
            split=Split.NONE,
            machine=_ENCODE_CPU,
            modal_function="process_framing",
            timeout_s=1800,
            frame_pass=PassRole.HEAD,
            nvenc_machine=_ENCODE_NVENC,
        ),
        StageSpec(
            name=StageName.OVERLAY,
            params=OverlayParams,
            outputs=(Artifact.VIDEO,),
            split=Split.FRAMES,
            machine=_ENCODE_CPU,
            modal_function="render_overlay",
            timeout_s=1800,
            frame_pass=PassRole.STEP,
            nvenc_machine=_ENCODE_NVENC,
        ),
        StageSpec(
            name=StageName.UPSCALE,
            params=UpscaleParams,
            outputs=(Artifact.VIDEO,),
            split=Split.FRAMES,
            machine=Machine(gpu="L4", image=Image.UPSCALE, cpu=4.0, memory_mb=8192),
            modal_function="apply_upscale",
            timeout_s=1800,
            weights=("upscale_weights",),
            modal_class="Upscaling",
            frame_pass=PassRole.STEP,
        ),
    )
}

assert list(STAGE_TABLE) == list(STAGE_ORDER), "the table lists every stage, in job order"


@dataclass(frozen=True)
class StepSpec:
    """A call a job makes that is no stage of its manifest, declared like one: the
    machine it is sized for, its Modal function, timeout and retries. Its use is charged
    to the stage it serves (that stage's line in the ledger), and its output is that
    stage's, kept under the stage call's cache key: a reused stage reuses its step. A
    reel's assembly serves no stage: it has its own line (the status's ``steps``)."""

    name: str
    machine: Machine
    modal_function: str
    timeout_s: int
    retries: int = 2


# The join of a split stage's video parts (:mod:`pipeline.jobs.segments`): a stream copy
# of the parts, the input's audio muxed once, the job's poster and preview cut from the
# joined file when it is the job's last video. Download, mux and a 3 s preview encode
# keep two cores busy; the parts never sit in memory (files in scratch).
JOIN = StepSpec(
    name="join",
    machine=Machine(gpu=None, image=Image.BASE, cpu=2.0, memory_mb=2048),
    modal_function="join_segments",
    timeout_s=900,
)

# The job's poster and preview cut from its stored output, when the call that wrote it
# could not cut them (no video stage, or the overlay's choice of frame in an earlier
# call): a download, one seek, one decode of the frames shown, a 3 s preview encode.
PREVIEWS = StepSpec(
    name="previews",
    machine=Machine(gpu=None, image=Image.BASE, cpu=1.0, memory_mb=1024),
    modal_function="cut_previews",
    timeout_s=600,
)

# A reel cut from its clips' outputs (:mod:`pipeline.jobs.reel_assembly_call`): the
# clips downloaded, their loudness measured, the reel encoded once (x264 on every core
# reserved) or its picture stream-copied, its poster, preview and edit written.
REEL_ASSEMBLY = StepSpec(
    name="assembly",
    machine=Machine(gpu=None, image=Image.BASE, cpu=4.0, memory_mb=4096),
    modal_function="assemble_reel",
    # Three tries of 900 s fit inside the orchestrator's hour that waits for them (a 60 s
    # 1080p reel encodes in about a minute on these cores).
    timeout_s=900,
)

STEPS: dict[str, StepSpec] = {step.modal_function: step for step in (JOIN, PREVIEWS, REEL_ASSEMBLY)}


def spec_for(name: StageName) -> StageSpec:
    """The table's row for ``name``."""
    return STAGE_TABLE[name]

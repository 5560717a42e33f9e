"""Every function of the Modal app, in one table: its image, the modules its body imports
(imported as its container starts, before the memory snapshot where it takes one), the
model it loads at start, and whether it is restored from a memory snapshot.

``infra/modal_app.py`` defines the functions from this table; ``reelpipe verify`` looks up
exactly these names (``pipeline.service.deploy.APP_FUNCTIONS``, checked against it in the
tests); the image check builds each image's packages from the lock and imports its
functions' modules; ``bench/modal_imports.py`` times each module set. Nothing here imports
``modal``.

Example::

    FUNCTIONS["render_overlay"].modules   # ("pipeline.runners.stage_call", ...)
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.manifests.job import StageName
from pipeline.stages.table import Image

# The environment variable that tells a container which function it serves (each function
# sets it in its own ``env``): the app file imports that function's modules, and loads its
# model, at import, which is the container's start.
FUNCTION_ENV = "REELPIPE_FUNCTION"

# A stage call: the one body (stage_call) and the stages it runs through (the registry
# imports each stage's module; the media code comes with them).
_STAGE_CALL = ("pipeline.runners.stage_call", "pipeline.stages.registry")


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the app."""

    image: Image
    modules: tuple[str, ...]
    # The stage whose model loads at the container's start (``pipeline.stages.warm``).
    warm: StageName | None = None
    # Restored from a memory snapshot taken after its imports (CPU functions only: a GPU is
    # not attached while Modal takes a CPU snapshot, so a model loaded then would stay
    # on the CPU).
    snapshot: bool = False


FUNCTIONS: dict[str, FunctionSpec] = {
    # The stages, in call order. Each name is found by modal.Function.from_name(app, name).
    "detect_objects": FunctionSpec(
        Image.YOLO, (*_STAGE_CALL, "pipeline.stages.warm"), warm=StageName.DETECT
    ),
    "process_framing": FunctionSpec(Image.BASE, _STAGE_CALL, snapshot=True),
    "render_overlay": FunctionSpec(Image.BASE, _STAGE_CALL, snapshot=True),
    "apply_upscale": FunctionSpec(
        Image.UPSCALE, (*_STAGE_CALL, "pipeline.stages.warm"), warm=StageName.UPSCALE
    ),
    # The join of a split stage's video parts (the stage table's JOIN): the same call body.
    "join_segments": FunctionSpec(Image.BASE, _STAGE_CALL, snapshot=True),
    # The job's poster and preview from its stored output, when no call could cut them
    # (the stage table's PREVIEWS).
    "cut_previews": FunctionSpec(Image.BASE, _STAGE_CALL, snapshot=True),
    # A reel cut from its clips' outputs (the stage table's REEL_ASSEMBLY).
    "assemble_reel": FunctionSpec(
        Image.BASE, (*_STAGE_CALL, "pipeline.jobs.reel_assembly_call"), snapshot=True
    ),
    # The interactive calls an app makes while its user picks a player.
    "detect_players_modal": FunctionSpec(
        Image.YOLO, ("pipeline.stages.interactive", "pipeline.stages.warm"), warm=StageName.DETECT
    ),
    "detect_ball_modal": FunctionSpec(
        Image.YOLO, ("pipeline.stages.interactive", "pipeline.stages.warm"), warm=StageName.DETECT
    ),
    # The orchestrator and what it spawns.
    "orchestrate_job": FunctionSpec(
        Image.BASE,
        (
            "pipeline.jobs.claim",
            "pipeline.jobs.notifier",
            "pipeline.jobs.worker",
            "pipeline.runners.modal",
        ),
        snapshot=True,
    ),
    "deliver_callback": FunctionSpec(
        Image.BASE, ("pipeline.jobs.callback_delivery",), snapshot=True
    ),
    # The triggers.
    "scan_inbox": FunctionSpec(Image.BASE, ("pipeline.jobs.scan",), snapshot=True),
    "webhook": FunctionSpec(
        Image.BASE,
        ("pipeline.jobs.scan", "pipeline.service.request_origin", "pipeline.service.webhook_app"),
        snapshot=True,
    ),
    "nightly_reprocess": FunctionSpec(
        Image.BASE,
        (
            "pipeline.jobs.reprocess",
            "pipeline.jobs.worker",
            "pipeline.manifests.status",
            "pipeline.runners.modal",
        ),
        snapshot=True,
    ),
}

# The modules every container imports with the app file itself.
APP_MODULES = ("pipeline.core.settings", "pipeline.manifests.job", "pipeline.stages.table")

# What a model-loading container imports to load it (the warm step's lazy imports).
MODEL_MODULES: dict[StageName, tuple[str, ...]] = {
    StageName.DETECT: ("pipeline.detect.yolo", "ultralytics"),
    StageName.UPSCALE: ("pipeline.superres.backends", "pipeline.superres.srvgg", "torch"),
}


def container_modules(name: str) -> tuple[str, ...]:
    """Every module function ``name``'s container imports before its first request."""
    spec = FUNCTIONS[name]
    models = MODEL_MODULES[spec.warm] if spec.warm is not None else ()
    return (*APP_MODULES, *spec.modules, *models)


def image_modules(image: Image) -> tuple[str, ...]:
    """The modules of every function of ``image`` (what its packages must import)."""
    found: dict[str, None] = {}
    for name, spec in FUNCTIONS.items():
        if spec.image is image:
            found |= dict.fromkeys(container_modules(name))
    return tuple(found)

"""Load a stage's models before its first request: at a container's start.

Each loader is cached per process (``load_yolo`` by path, ``load_model`` by
path and device), so once a container has warmed its stage every request finds
the model loaded: a request never pays the load. The Modal app calls this from
its classes' ``@modal.enter`` hooks; locally the first request loads.

Example::

    warm_models(settings, StageName.DETECT)     # ("yolo:yolov8x.pt",) with weights set
"""

from __future__ import annotations

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName


def warm_models(settings: Settings, stage: StageName) -> tuple[str, ...]:
    """Load the models ``stage`` would load with ``settings``; returns what was loaded
    (nothing when no weights are configured: the motion detector and the classical
    upscaler load none)."""
    loaded: list[str] = []
    if stage is StageName.DETECT and settings.models.yolo_weights is not None:
        from pipeline.detect.yolo import load_yolo

        load_yolo(settings.models.yolo_weights, settings.scratch_dir / "ultralytics")
        loaded.append(f"yolo:{settings.models.yolo_weights.name}")
    if stage is StageName.UPSCALE and settings.models.upscale_weights is not None:
        from pipeline.superres.backends import load_model, preferred_device

        load_model(settings.models.upscale_weights, preferred_device())
        loaded.append(f"srvgg:{settings.models.upscale_weights.name}")
    return tuple(loaded)

"""JSON Schemas of the wire formats, for apps and for ``reelpipe schema``."""

from __future__ import annotations

from typing import Any

from pipeline.manifests.detections import Detections
from pipeline.manifests.job import JobManifest
from pipeline.manifests.reel import ReelManifest
from pipeline.manifests.status import StatusManifest
from pipeline.manifests.timeline import FramingTimeline

SCHEMAS: dict[str, type[Any]] = {
    "job": JobManifest,
    "reel": ReelManifest,
    "status": StatusManifest,
    "framing-timeline": FramingTimeline,
    "detections": Detections,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every published schema, by name."""
    return {name: model.model_json_schema() for name, model in SCHEMAS.items()}

"""Which class implements each stage."""

from __future__ import annotations

from pipeline.core.errors import ConfigError
from pipeline.manifests.job import StageName
from pipeline.stages.base import AnyStage
from pipeline.stages.detect import DetectStage
from pipeline.stages.framing import FramingStage
from pipeline.stages.overlay import OverlayStage
from pipeline.stages.upscale import UpscaleStage

_STAGES: dict[StageName, type[AnyStage]] = {
    StageName.DETECT: DetectStage,
    StageName.FRAMING: FramingStage,
    StageName.OVERLAY: OverlayStage,
    StageName.UPSCALE: UpscaleStage,
}


def stage_for(name: StageName) -> AnyStage:
    """A fresh instance of the stage called ``name``."""
    try:
        return _STAGES[name]()
    except KeyError:
        raise ConfigError(f"stage {name.value!r} is not implemented") from None

"""Which of a job's stages run together as one fused pass.

Adjacent stages fuse when both have a place in a pass (the stage table's
``frame_pass``: framing only at the head, overlay and upscale anywhere) and they
run on the same machine: locally every stage does; on Modal, the stage
table's machines (with the encoder setting) must be equal. ``REELPIPE_FUSE=0``
runs every stage on its own (for debugging). A fused group always runs whole:
the parallel segments of the frame stages are for a stage run on its own.

Example::

    fusion_groups([DETECT, FRAMING, OVERLAY, UPSCALE], settings, machine="cpu")
    # [[DETECT], [FRAMING, OVERLAY, UPSCALE]]
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.stages.table import PassRole, spec_for


def fusion_groups(
    stages: Sequence[StageName], settings: Settings, *, machine: str | None
) -> list[list[StageName]]:
    """``stages`` (in job order) cut into the groups that run as one call each.

    ``machine`` is the runner's: a name when every stage runs on it, None when
    each stage runs on its own (the stage table's)."""
    groups: list[list[StageName]] = []
    for name in stages:
        if groups and settings.fuse and _joins(groups[-1][-1], name, settings, machine):
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


def _joins(previous: StageName, name: StageName, settings: Settings, machine: str | None) -> bool:
    before, after = spec_for(previous), spec_for(name)
    if before.frame_pass is PassRole.NONE or after.frame_pass is not PassRole.STEP:
        return False
    if machine is not None:
        return True
    encoder = settings.video_encoder
    return before.machine_for(encoder) == after.machine_for(encoder)

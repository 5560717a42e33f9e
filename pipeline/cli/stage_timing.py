"""Each stage's planned time beside what it took, as ``process`` and ``status`` print it.

The plan is written when the run starts (``plan_s``), the measured wall time when the
stage ends (``duration_s``); side by side they show how far the estimates drift.

Example::

    stage_timing(status.stages[StageName.FRAMING])   # "took 1.1s, planned 1.3s (1.18x)"
"""

from __future__ import annotations

from pipeline.manifests.status import StageStatus, StatusManifest


def stage_timing(stage: StageStatus) -> str:
    """``took``, ``planned`` and their ratio (plan over took), as far as they are known."""
    parts = []
    if stage.duration_s is not None:
        parts.append(f"took {stage.duration_s:.1f}s")
    if stage.plan_s is not None:
        parts.append(f"planned {stage.plan_s:.1f}s")
    if stage.duration_s and stage.plan_s is not None:
        parts[-1] += f" ({stage.plan_s / stage.duration_s:.2f}x)"
    return ", ".join(parts)


def timing_lines(status: StatusManifest) -> list[str]:
    """One line per stage that has a time: its name, took, planned."""
    lines = []
    for name, stage in status.stages.items():
        timing = stage_timing(stage)
        if timing:
            lines.append(f"  {name.value:<10}{timing}")
    return lines

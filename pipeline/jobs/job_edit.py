"""``timeline.otio`` beside a job's output: its edit, for an editor to take over.

The source clip (by its bucket key) and the pieces framing kept of it, each at
its speed, with the crop (see :func:`pipeline.media.otio_edit.job_timeline`);
the whole clip for a job that did not frame it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.otio_edit import job_timeline, write, write_exports
from pipeline.media.probe import VideoInfo


def write_job_edit(
    out_dir: Path, name: str, source_key: str, info: VideoInfo, framing: Path | None
) -> dict[str, Path]:
    """Write ``out_dir/timeline.otio`` (and its FCP XML and EDL exports) for the job's
    source ``source_key`` (``framing``: the job's downloaded ``timeline.json``, when
    framing ran); the files by label (``edit``, ``fcp_xml``, ``edl``)."""
    timeline = (
        FramingTimeline.model_validate_json(framing.read_bytes()) if framing is not None else None
    )
    fps = Fraction(info.fps).limit_denominator(1001)
    path = out_dir / "timeline.otio"
    edit = job_timeline(name, source_key, fps, timeline, info.frame_count)
    write(edit, path)
    exports = write_exports(edit, path)
    return {"edit": path, **{EXPORT_LABELS[name]: p for name, p in exports.items()}}


EXPORT_LABELS = {"fcp_xml": "fcp_xml", "cmx_3600": "edl"}

"""A reel from the inbox assembled as a call of its own (:data:`REEL_ASSEMBLY`: 4 cores,
4 GiB; on Modal the ``assemble_reel`` function), not on the orchestrator's machine.

The call gets the reel block and its clips' finished statuses as JSON
(:class:`~pipeline.stages.base.Assembly`), downloads each clip's output, cuts the reel
from them (:func:`pipeline.jobs.reel_cut.assemble_rendered`: the moments chosen, one
encode or a stream copy, loudness matched, the edit written) and uploads its files
under the reel's job, this run's epoch in the key (``reel/run-{epoch}/``: a later run
never overwrites what an earlier one wrote). Its progress is the reel's bar, through
the call's frame boundary (which also stops it for a cancel or a handback); its use is
the reel's own line in the ledger (the status's ``steps.assembly``).

Example::

    call = Call.assembling(Assembly(user, reel_job, reel_json, clip_statuses, fence, epoch))
    [result] = runner.run(call, progress)
    result.details["outputs"]     # {"reel.output": key, "reel.timeline": key, "poster": ...}
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pipeline.core.errors import StageParamsInvalid
from pipeline.core.settings import Settings
from pipeline.jobs.reel_cut import (
    RenderedClip,
    assemble_rendered,
    detections_of,
    player_coverage,
    timeline_of,
)
from pipeline.manifests.reel import Reel, ReelClipStatus
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.probe import probe
from pipeline.stages.base import Assembly, ProgressFn, StageResult
from pipeline.stages.table import Artifact
from pipeline.storage.bucket import Bucket

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".otio": "application/json",
    ".xml": "application/xml",
    ".edl": "text/plain",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}

REEL_FOLDER = "reel"  # under the reel's job: reel/run-{epoch}/output.mp4 ...

# The reel's bar during its assembly: the clips' downloads, then the encode, then uploads.
DOWNLOADED, ENCODED = 0.1, 0.9


def assemble_reel(
    bucket: Bucket, settings: Settings, assembly: Assembly, progress: ProgressFn
) -> StageResult:
    """Cut the reel of ``assembly`` here and store its files; their keys in the result's
    ``details["outputs"]`` (by the status's labels), the reel in ``outputs["video"]``. A
    reel that cannot be made (no moment in it) is StageParamsInvalid."""
    reel = Reel.model_validate(assembly.reel)
    statuses = [StatusManifest.model_validate(s) for s in assembly.clips]
    scratch = settings.scratch_dir / assembly.job_id / "assembly" / str(time.time_ns())
    try:
        rendered = _downloaded(bucket, reel, statuses, scratch, progress)
        made = assemble_rendered(
            rendered,
            reel,
            scratch / "reel",
            0.0,
            progress=lambda f: progress(DOWNLOADED + (ENCODED - DOWNLOADED) * f),
        )
        if made.status.state != JobState.SUCCEEDED.value:
            raise StageParamsInvalid(made.status.error or "the reel could not be made")
        outputs = _uploaded(bucket, assembly, made.paths)
        progress(1.0)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return StageResult(
        outputs={Artifact.VIDEO: outputs["reel.output"]},
        frames=made.status.frames or 0,
        backend="assembly",
        details={"outputs": outputs},
        previews={k: outputs[k] for k in ("poster", "preview") if k in outputs},
    )


def _downloaded(
    bucket: Bucket,
    reel: Reel,
    statuses: list[StatusManifest],
    scratch: Path,
    progress: ProgressFn,
) -> list[RenderedClip]:
    """Each clip's output here, with what the cut needs to know of its job."""
    rendered = []
    for index, (clip, status) in enumerate(zip(reel.clips, statuses, strict=True)):
        if status.output_key is None:
            raise StageParamsInvalid(f"reel clip {index} ({clip.input_key}) has no output")
        local = bucket.download_file(status.output_key, scratch / f"clip-{index}.mp4")
        summary = ReelClipStatus(
            input_key=clip.input_key or "",
            job_id=status.job_id,
            state=status.state.value,
            output_key=status.output_key,
            cost_usd=status.cost_usd,
        )
        rendered.append(
            RenderedClip(
                clip,
                local,
                probe(local),
                status.output_key,
                timeline_of(bucket, status),
                summary,
                player_coverage(status),
                detections_of(bucket, status),
                reel.highlight_of(index),
            )
        )
        progress(DOWNLOADED * (index + 1) / len(statuses))
    return rendered


def _uploaded(bucket: Bucket, assembly: Assembly, paths: dict[str, Path]) -> dict[str, str]:
    """The reel's files under its job's ``reel/run-{epoch}/``; their keys by label."""
    outputs = {}
    for label, path in paths.items():
        key = bucket.layout.stage_key(
            assembly.user_id, assembly.job_id, REEL_FOLDER, path.name, epoch=assembly.epoch
        )
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        bucket.upload_file(path, key, content_type=content_type)
        outputs[label if label in ("poster", "preview") else f"reel.{label}"] = key
    return outputs

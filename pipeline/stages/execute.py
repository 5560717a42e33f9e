"""The one body that runs a stage call, wherever it runs: in the orchestrator's process,
in a local worker process or in a Modal container (through
:mod:`pipeline.runners.stage_call`). A fused group of stages runs the same way,
as one pass (:mod:`pipeline.stages.fused`).

The call that writes the job's last video also cuts its poster and preview from it,
while it is still in scratch (:func:`pipeline.media.previews.cut_previews`): the
orchestrator neither probes nor reads the output again. A segment leaves them to
the join, a call of its own (:func:`join_segments`, the same cut from the joined file);
when neither can (no video, or an overlay that ran in an earlier call: its choice of
frame is in that call's record), a previews call of their own cuts them from the
stored output (:func:`cut_stored_previews`, on the stage table's PREVIEWS machine).

Example::

    [result] = execute(bucket, settings, Call.of(request), progress)
    results = execute(bucket, settings, Call.of(framing, overlay), progress)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import av
import structlog

from pipeline.core.errors import InvalidMedia, ReelpipeError, bounded_message
from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.media.join import join_parts
from pipeline.media.previews import POSTER_NAME, PREVIEW_NAME, PREVIEWS_FOLDER, cut_previews
from pipeline.media.probe import probe
from pipeline.stages.base import (
    AnyStageRequest,
    Call,
    Cut,
    Join,
    ProgressFn,
    StageContext,
    StageResult,
)
from pipeline.stages.fused import run_fused
from pipeline.stages.registry import stage_for
from pipeline.stages.table import Artifact
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


def execute(
    bucket: Bucket, settings: Settings, call: Call, progress: ProgressFn
) -> list[StageResult]:
    """Run ``call`` here, in scratch space under the settings' scratch dir (removed
    afterwards): one stage on its own, adjacent stages as one fused pass, or the join of
    a stage's segments; one result per stage, in order."""
    scratch = settings.scratch_dir / call.head.job_id / call.label
    if call.segment is not None:
        scratch = scratch / f"segment-{call.segment.index:03d}"
    if call.join is not None or call.cut is not None:
        scratch = scratch / ("join" if call.join is not None else "previews")
    scratch.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(bucket, settings, scratch, progress)
    try:
        if call.join is not None:
            return [join_segments(ctx, call.head, call.join)]
        if call.cut is not None:
            return [cut_stored_previews(ctx, call.head, call.cut)]
        if len(call.requests) > 1:
            results = run_fused(ctx, call.requests)
        else:
            results = [stage_for(call.head.stage).run(ctx, call.head)]
        return with_previews(ctx, call.requests, results)
    finally:
        ctx.cleanup()


def join_segments(ctx: StageContext, request: AnyStageRequest, join: Join) -> StageResult:
    """Join the video parts of ``request``'s segments into its ``video.mp4`` without
    re-encoding, the stage input's audio muxed once; when it is the job's last video
    (and no earlier call holds the overlay's choice of frame), the job's poster and
    preview are cut from the joined file. The parts are removed once it is stored."""
    bucket, settings = ctx.bucket, ctx.settings
    parts = [
        bucket.download_file(key, ctx.scratch / f"part-{i:03d}.mp4")
        for i, key in enumerate(join.parts)
    ]
    source = bucket.download_file(request.video_key, ctx.scratch / "source.mp4")
    output = ctx.scratch / "video.mp4"
    heard = probe(source)
    join_parts(
        parts,
        output,
        audio_source=source,
        audio_codec=heard.audio_codec,
        audio_bitrate=settings.final_encode.audio_bitrate,
        audio_rate=heard.audio_sample_rate,
    )
    key = ctx.publish(output, request, "video.mp4")
    previews: dict[str, str] = {}
    overlay = request.stage is StageName.OVERLAY
    if request.final and (overlay or StageName.OVERLAY not in request.upstream):
        previews = cut_job_previews(bucket, request, output, join.shown if overlay else {})
    for part in join.parts:
        bucket.delete(part)
    return StageResult(outputs={Artifact.VIDEO: key}, frames=0, backend="join", previews=previews)


def cut_stored_previews(ctx: StageContext, request: AnyStageRequest, cut: Cut) -> StageResult:
    """The job's poster and preview cut from its stored video (no call could cut them from
    the file it wrote: a job without video stages, an overlay in an earlier call). A video
    that cannot be cut is InvalidMedia: the job keeps its output, with a warning."""
    path = ctx.fetch(cut.video_key, "video" + (Path(cut.video_key).suffix or ".mp4"))
    try:
        keys = upload_previews(ctx.bucket, request, path, cut.shown)
    except (av.FFmpegError, OSError) as exc:
        raise InvalidMedia(f"the output cannot be cut into a poster: {exc}") from exc
    return StageResult(outputs={}, frames=0, backend="previews", previews=keys)


def with_previews(
    ctx: StageContext, requests: Sequence[AnyStageRequest], results: list[StageResult]
) -> list[StageResult]:
    """``results``, the last one carrying the job's poster and preview when this call
    wrote the job's last video (cut from the file in scratch, at the overlay's
    ``best_frame`` and ``preview_window``, else the middle); unchanged when it cannot."""
    last, result = requests[-1], results[-1]
    key = result.outputs.get(Artifact.VIDEO)
    path = ctx.published.get(key) if key is not None else None
    if not last.final or last.segment is not None or path is None:
        return results
    stages = [q.stage for q in requests]
    overlay = results[stages.index(StageName.OVERLAY)] if StageName.OVERLAY in stages else None
    if overlay is None and StageName.OVERLAY in last.upstream:
        return results
    details = overlay.details if overlay is not None else {}
    keys = cut_job_previews(ctx.bucket, last, path, details)
    if not keys:
        return results
    return [*results[:-1], dataclasses.replace(result, previews=keys)]


def cut_job_previews(
    bucket: Bucket, request: AnyStageRequest, path: Path, details: Mapping[str, Any]
) -> dict[str, str]:
    """Cut the job's poster and preview from ``path`` (its last video, a file on this
    machine) at the overlay's ``best_frame`` and ``preview_window`` in ``details`` (else
    the middle), upload them under ``previews/run-{epoch}/``; their keys (``{}``: they
    could not be cut, and a previews call cuts them from the stored output instead)."""
    try:
        return upload_previews(bucket, request, path, details)
    except (ReelpipeError, av.FFmpegError, OSError) as exc:
        log.warning("previews_deferred", error=bounded_message(str(exc), 300))
        return {}


def upload_previews(
    bucket: Bucket, request: AnyStageRequest, path: Path, details: Mapping[str, Any]
) -> dict[str, str]:
    """Cut the poster and preview of ``path`` placed by ``details`` and upload them under
    the job's ``previews/run-{epoch}/``; their keys (errors raised)."""
    best, window = details.get("best_frame"), details.get("preview_window")
    poster, preview = path.with_name(POSTER_NAME), path.with_name(PREVIEW_NAME)
    cut = cut_previews(
        path,
        poster,
        preview,
        frame=best if isinstance(best, int) else None,
        window=(window[0], window[1]) if isinstance(window, list) else None,
    )
    epoch = request.fence.epoch if request.fence is not None else None
    keys = {}
    for label, file, content_type in (
        ("poster", poster, "image/jpeg"),
        ("preview", preview, "video/mp4"),
    ):
        keys[label] = bucket.layout.stage_key(
            request.user_id, request.job_id, PREVIEWS_FOLDER, file.name, epoch=epoch
        )
        bucket.upload_file(file, keys[label], content_type=content_type)
    log.info("previews_written", at_s=cut.at_s, frames=cut.end - cut.start)
    return keys

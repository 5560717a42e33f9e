"""Parallel segments of a frame-local stage: plan the split, fan out, join.

Overlay and upscale treat every frame on its own, so a long clip can be cut
into frame-exact ranges processed by several workers at once (GPUs on Modal,
processes locally). Each worker writes its range as a video-only part; a join call,
on the join's own machine (:data:`pipeline.stages.table.JOIN`), joins the parts
without re-encoding, muxes the stage input's audio once, cuts the job's poster and
preview from the joined file when it is the job's last video, and removes the parts
(:func:`pipeline.stages.execute.join_segments`). Detection splits the same way, each
part starting ``detect_overlap_s`` early so the orchestrator can stitch the track ids
(:mod:`pipeline.detect.stitch`: a small JSON, stitched where the orchestrator runs).

Example::

    segments = plan_stage_segments(bucket, settings, request, capacity=runner.max_workers)
    if segments:
        result = run_segmented(bucket, runner, Call.of(request), segments, progress)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import structlog

from pipeline.core.errors import ReelpipeError, StorageUnavailable
from pipeline.core.settings import Settings
from pipeline.detect.stitch import stitch
from pipeline.jobs.cost_model import plan_segments
from pipeline.manifests.detections import Detections
from pipeline.media.object_relay import ObjectRelay
from pipeline.media.probe import PROBES, VideoInfo, probe_url
from pipeline.runners.base import Runner
from pipeline.stages.base import AnyStageRequest, Call, ProgressFn, Segment, StageResult
from pipeline.stages.table import Artifact, Split, spec_for
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


def plan_stage_segments(
    bucket: Bucket, settings: Settings, request: AnyStageRequest, *, capacity: int
) -> list[Segment]:
    """The segments ``request`` is split into; empty when it runs whole.

    ``settings.costs.segment_workers`` forces a count; otherwise the clip length
    picks one from ``settings.costs.segment_thresholds``, capped at ``capacity``
    (what the runner can run at once). Only constant-rate inputs are split:
    their frame numbers follow from timestamps, so a part can seek to its start.
    """
    spec = spec_for(request.stage)
    if not spec.splits:
        return []
    if settings.costs.segment_workers is None and capacity <= 1:
        return []
    info = probe_stage_input(bucket, request.video_key, settings)
    if not info.constant_rate:
        log.info("segments_skipped", reason="variable frame rate")
        return []
    if settings.costs.segment_workers is not None:
        workers = settings.costs.segment_workers
    else:
        planned = plan_segments(
            info.frame_count, float(info.fps), thresholds=settings.costs.segment_thresholds
        )
        workers = min(planned.workers, capacity)
    ranges = plan_segments(info.frame_count, float(info.fps), workers=workers).segments
    if len(ranges) <= 1:
        return []
    overlap = 0
    if spec.split is Split.FRAMES_WITH_OVERLAP:  # parts start early, to stitch track ids
        overlap = round(settings.detect_overlap_s * float(info.fps))
    return [
        Segment(i, len(ranges), start, end, overlap if i else 0)
        for i, (start, end) in enumerate(ranges)
    ]


def probe_stage_input(bucket: Bucket, key: str, settings: Settings) -> VideoInfo:
    """Probe an object in place through a loopback relay (no signed URL on ffprobe's
    command line); a store that fails or stalls meanwhile is a retryable error."""
    name = key.rsplit("/", 1)[-1]
    head = bucket.head(key)
    identity = (bucket.name, key, head.etag)
    if (known := PROBES.get(identity)) is not None:
        return known
    size = head.size
    # The relay answers within the store's own bounds (read timeout x attempts); ffprobe
    # waits that long for it before it calls a read stalled.
    upstream_s = settings.storage.read_timeout_s * settings.storage.max_attempts + 1
    with ObjectRelay(bucket, key) as relay:
        try:
            info = probe_url(
                relay.url,
                name,
                size,
                timeout_s=settings.probe_timeout_s,
                read_timeout_s=max(settings.media_read_timeout_s, upstream_s),
            )
            return PROBES.put(identity, info)
        except ReelpipeError as exc:
            if relay.troubled:
                detail = relay.failure or "the store did not answer in time"
                raise StorageUnavailable(f"probing {name}: {detail}") from exc
            raise


T = TypeVar("T")


class Retried(Protocol):
    """How the caller retries one call: ``retried(attempt)`` runs ``attempt()`` until it
    returns or its retries run out."""

    def __call__(self, attempt: Callable[[], T], /) -> T:
        """``attempt()``'s answer, retried on a transient failure."""
        ...


def _once(attempt: Callable[[], T]) -> T:
    return attempt()


def _nothing() -> None:
    return None


def run_segmented(
    bucket: Bucket,
    runner: Runner,
    call: Call,
    segments: list[Segment],
    progress: ProgressFn,
    *,
    retried: Retried = _once,
    started: Callable[[], None] = _nothing,
) -> StageResult:
    """Run ``call`` (one stage) as ``segments`` through ``runner``, then join the parts:
    videos in a join call on the join's own machine, detections stitched here (a small
    JSON). The parts and the join are each ``retried`` as the caller retries calls, the
    parts after ``started()`` (the stage's record, once an attempt)."""
    request = call.head

    def run_parts() -> list[StageResult]:
        started()
        return [r for rs in runner.map(call.split(segments), progress) for r in rs]

    began = time.monotonic()
    results = retried(run_parts)
    ran = time.monotonic() - began
    details = _joined_details([dict(r.details) for r in results], [r.frames for r in results])
    used = list(results)
    if spec_for(request.stage).frame_local:
        keys = [r.outputs[Artifact.VIDEO] for r in results]
        shown: dict[str, Any] = {
            k: details[k] for k in ("best_frame", "preview_window") if k in details
        }
        join = call.joining(keys, shown)
        [joined] = retried(lambda: runner.run(join, progress))
        outputs, previews = dict(joined.outputs), dict(joined.previews)
        used.append(joined)
    else:
        keys = [r.outputs[Artifact.DETECTIONS] for r in results]
        outputs = {Artifact.DETECTIONS: join_detections(bucket, request, keys, segments)}
        previews = {}
    log.info(
        "segments_joined",
        segments=len(segments),
        parallel_s=round(ran, 3),
        join_s=round(time.monotonic() - began - ran, 3),
    )
    return StageResult(
        outputs=outputs,
        frames=sum(s.frames for s in segments),
        backend=f"{results[0].backend} x{len(segments)}",
        gpu_seconds=round(sum(r.gpu_seconds for r in used), 3),
        gpu=results[0].gpu,
        cpu_seconds=round(sum(r.cpu_seconds for r in used), 3),
        memory_gib_seconds=round(sum(r.memory_gib_seconds for r in used), 3),
        startup_s=round(sum(r.startup_s for r in used), 3),
        warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)),
        details=details,
        previews=previews,
    )


def _joined_details(parts: list[dict[str, Any]], frames: list[int]) -> dict[str, Any]:
    """The first part's details, with per-second lists (``coverage``) joined in order and
    shares of frames (``lit``) weighted by each part's frames."""
    if not parts or not parts[0]:
        return {}
    joined = dict(parts[0])
    if "coverage" in joined:
        joined["coverage"] = [c for part in parts for c in part.get("coverage", [])]
    if "lit" in joined:
        lit = sum(float(p.get("lit", 0.0)) * n for p, n in zip(parts, frames, strict=True))
        joined["lit"] = round(lit / max(1, sum(frames)), 4)
    shown = next((p for p in parts if "best_frame" in p), None)  # a poster where he is lit
    if shown is not None:
        joined["best_frame"], joined["preview_window"] = (
            shown["best_frame"],
            shown.get("preview_window"),
        )
    return joined


def join_detections(
    bucket: Bucket, request: AnyStageRequest, part_keys: list[str], segments: list[Segment]
) -> str:
    """Stitch the parts' detections (one set of track ids) into ``detections.json``."""
    parts = [Detections.model_validate(bucket.get_json(k).data) for k in part_keys]
    joined = stitch(parts, [s.start for s in segments])
    key = request.artifact_key(bucket.layout, "detections.json")
    bucket.put_json(key, joined.model_dump(mode="json"))
    for part in part_keys:
        bucket.delete(part)
    return key

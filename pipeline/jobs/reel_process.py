"""``reelpipe process A.mp4 B.mp4 --manifest reel.json``: many clips in, one reel out.

Each clip with stages runs as an ordinary job (its stages, its cache keys, its
status), on this machine's worker; a clip without stages is used as it is. The
reel is then cut from what they made (:mod:`pipeline.jobs.reel_cut`).

Example::

    made = process_reel(settings, [Path("a.mp4"), Path("b.mp4")], manifest, user="local",
                        out_dir=Path("reel-out"))
    made.status.state, made.paths["output"], made.paths["timeline"]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline.client.submit import clip_key_for, submit_manifest, upload_clip_version
from pipeline.core.errors import ConflictError, InvalidManifest
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimPolicy, claim
from pipeline.jobs.compose import local_worker
from pipeline.jobs.reel_cut import (
    ProcessedReel,
    RenderedClip,
    assemble_rendered,
    detections_of,
    failed_reel,
    finish_reel,
    player_coverage,
    stages_for,
    timeline_of,
)
from pipeline.manifests.reel import Reel, ReelClip, ReelClipStatus, ReelManifest
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.probe import probe
from pipeline.storage.bucket import Bucket
from pipeline.storage.connection import connect
from pipeline.storage.embedded_process import EmbeddedS3Process

__all__ = ["ProcessedReel", "process_reel"]


def process_reel(
    settings: Settings,
    clips: list[Path],
    manifest: ReelManifest,
    *,
    user: str,
    out_dir: Path,
) -> ProcessedReel:
    """Run every clip of ``manifest`` (``clips`` fill its ``input_key``s in order) and
    assemble the reel into ``out_dir``."""
    reel = manifest.reel
    if len(clips) != len(reel.clips):
        raise InvalidManifest(
            f"the reel has {len(reel.clips)} clips and {len(clips)} were given: give one "
            "clip for each entry of reel.clips, in order"
        )
    server = EmbeddedS3Process().start() if settings.embedded else None
    try:
        with connect(settings, server=server) as conn:
            return _run(conn.bucket, conn.settings, clips, reel, user, out_dir)
    finally:
        if server is not None:
            server.stop()


def _run(
    bucket: Bucket, settings: Settings, clips: list[Path], reel: Reel, user: str, out_dir: Path
) -> ProcessedReel:
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = settings.scratch_dir / "reels" / out_dir.name
    scratch.mkdir(parents=True, exist_ok=True)
    rendered: list[RenderedClip] = []
    worker = local_worker(bucket, settings)
    try:
        for index, (path, clip) in enumerate(zip(clips, reel.clips, strict=True)):
            relative, _ = upload_clip_version(bucket, user, path, clip_key_for(path))
            clip = clip.model_copy(update={"input_key": relative})
            done = _render(bucket, settings, worker, (user, index, clip, path), scratch, reel)
            rendered.append(done)
            if done.status.state != JobState.SUCCEEDED.value:
                status = failed_reel(rendered, reel, f"clip {index} ({path.name}) failed: "
                                 f"{done.status.error}")  # fmt: skip
                return finish_reel(status, out_dir, {})
    finally:
        worker.close()
    clips_s = time.monotonic() - started
    return assemble_rendered(rendered, reel, out_dir, clips_s)


def _render(
    bucket: Bucket,
    settings: Settings,
    worker: Any,
    which: tuple[str, int, ReelClip, Path],
    scratch: Path,
    reel: Reel,
) -> RenderedClip:
    """The clip as it goes into the reel: its job's output, or the clip itself."""
    user, index, clip, path = which
    assert clip.input_key is not None
    stages = stages_for(reel, index)
    if stages is None:
        status = ReelClipStatus(input_key=clip.input_key, state=JobState.SUCCEEDED.value)
        key = bucket.layout.user_key(user, clip.input_key)
        return RenderedClip(clip, path, probe(path), key, None, status)
    inbox = submit_manifest(bucket, user, {"input_key": clip.input_key, "stages": stages})
    job = claim(bucket, inbox.inbox_key, ClaimPolicy.from_settings(settings, worker.owner))
    if job is None:  # pragma: no cover - nobody else claims in this store
        raise ConflictError("a clip's job was claimed by another worker")
    finished: StatusManifest | None = worker.run(job)
    assert finished is not None
    status = ReelClipStatus(
        input_key=clip.input_key,
        job_id=job.job_id,
        state=finished.state.value,
        output_key=finished.output_key,
        cost_usd=finished.cost_usd,
        error=finished.error.message if finished.error is not None else None,
    )
    if finished.state is not JobState.SUCCEEDED or finished.output_key is None:
        return RenderedClip(clip, path, probe(path), "", None, status)
    local = bucket.download_file(finished.output_key, scratch / f"clip-{index}.mp4")
    timeline = timeline_of(bucket, finished)
    coverage = player_coverage(finished)
    return RenderedClip(
        clip,
        local,
        probe(local),
        finished.output_key,
        timeline,
        status,
        coverage,
        detections_of(bucket, finished),
        reel.highlight_of(index),
    )

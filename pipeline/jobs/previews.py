"""The job's poster and preview, cut from its finished output and written next to it.

The call that writes a job's last video usually makes them itself, from the file it
just wrote (:func:`pipeline.stages.execute.with_previews`). The orchestrator calls this
when it did not (a job without video stages, an overlay whose choice of frame is in
an earlier call), once the output is stored. It reads the
output in place through a loopback relay (only the seconds shown are fetched and
decoded), picks the moment the overlay found the highlighted player best seen (else the
middle), and writes ``previews/run-{epoch}/poster.jpg`` and ``preview.mp4`` in the job
folder: a stale worker's late upload never replaces what a finished status names.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

from pipeline.core.settings import Settings
from pipeline.jobs.segments import probe_stage_input
from pipeline.media.object_relay import ObjectRelay
from pipeline.media.previews import (
    PREVIEW_SECONDS,
    PREVIEWS_FOLDER,
    preview_window,
    write_poster,
    write_preview,
)
from pipeline.storage.bucket import Bucket

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Previews:
    """Where the poster and the preview went, and what they took."""

    poster_key: str
    preview_key: str
    at_s: float
    seconds: float


@dataclass(frozen=True)
class PreviewTarget:
    """The job the previews belong to and the run (lease epoch) writing them."""

    user_id: str
    job_id: str
    epoch: int | None


def publish_previews(
    bucket: Bucket,
    settings: Settings,
    target: PreviewTarget,
    video_key: str,
    *,
    best_frame: int | None,
    window: tuple[int, int] | None = None,
) -> Previews:
    """Write the poster (at ``best_frame``, else the middle) and the preview (the frames
    ``window`` when given: the overlay keeps it inside one camera shot; else 3 s around
    the poster) of ``video_key``; their keys."""
    began = time.monotonic()
    info = probe_stage_input(bucket, video_key, settings)
    fps = float(info.fps) or 30.0
    duration = info.duration_s or info.frame_count / fps
    last = max(info.frame_count - 1, 0)
    frame = min(max(best_frame if best_frame is not None else last // 2, 0), last)
    # ffmpeg keeps the first frame at or after the seek point: aim a quarter frame early.
    at_s = max((frame - 0.25) / fps, 0.0)
    scratch = settings.scratch_dir / "previews" / uuid.uuid4().hex
    scratch.mkdir(parents=True, exist_ok=True)
    timeout = settings.media_read_timeout_s
    try:
        poster, preview = scratch / "poster.jpg", scratch / "preview.mp4"
        if window is not None:
            start_s = max((window[0] - 0.25) / fps, 0.0)
            length_s = (window[1] - window[0]) / fps
        else:
            start_s, length_s = preview_window(at_s, duration, PREVIEW_SECONDS)
        with ObjectRelay(bucket, video_key) as relay:
            write_poster(relay.url, poster, at_s=at_s, read_timeout_s=timeout)
            write_preview(
                relay.url, preview, start_s=start_s, length_s=length_s, read_timeout_s=timeout
            )
        keys = [
            _publish(bucket, target, p, t)
            for p, t in ((poster, "image/jpeg"), (preview, "video/mp4"))
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - began
    log.info("previews_written", at_s=round(at_s, 3), seconds=round(seconds, 3))
    return Previews(keys[0], keys[1], round(at_s, 3), round(seconds, 3))


def _publish(bucket: Bucket, target: PreviewTarget, path: Path, content_type: str) -> str:
    key = bucket.layout.stage_key(
        target.user_id, target.job_id, PREVIEWS_FOLDER, path.name, epoch=target.epoch
    )
    bucket.upload_file(path, key, content_type=content_type)
    return key

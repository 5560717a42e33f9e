"""``reelpipe process`` as a library call: one clip, end to end, on this machine.

Upload the clip (the generated sample when none is given), submit the manifest,
claim it, run it here, and download the status and the output. The CLI, the
tests and the benchmarks call this; the CLI only prints what it returns.

Example::

    done = process_clip(settings, Path("game.mp4"), manifest, user="local",
                        out_dir=Path("reelpipe-out"))
    done.status.state, done.paths["output"]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import ConflictError
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimPolicy, claim
from pipeline.jobs.compose import local_worker
from pipeline.jobs.sample_reel import REENCODE_MANIFEST, sample_manifest
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.sample import write_sample_clip
from pipeline.storage.bucket import Bucket
from pipeline.storage.connection import connect


@dataclass(frozen=True)
class Processed:
    """What a processed clip left: its final status, the local files, its status key."""

    status: StatusManifest
    paths: dict[str, Path]  # "status" always, "output" when the job succeeded
    status_key: str


def process_clip(
    settings: Settings,
    clip: Path | None,
    manifest: dict[str, Any] | None,
    *,
    user: str,
    out_dir: Path | None = None,
    on_status: Callable[[StatusManifest], None] | None = None,
) -> Processed:
    """Run ``clip`` (None: the generated sample, with its own job when ``manifest`` is
    None too) through ``manifest`` (None: a plain re-encode) here; the results go to
    ``out_dir`` (default ``reelpipe-out/<job id>``)."""
    if clip is None:
        clip = settings.scratch_dir / "sample" / "sample.mp4"
        clip.parent.mkdir(parents=True, exist_ok=True)
        truth = write_sample_clip(clip)
        manifest = manifest if manifest is not None else sample_manifest(truth)
    manifest = dict(manifest if manifest is not None else REENCODE_MANIFEST)
    with connect(settings) as conn:
        bucket = conn.bucket
        relative = upload_clip(bucket, user, clip)
        manifest.setdefault("input_key", relative)
        worker = local_worker(bucket, conn.settings, on_status=on_status)
        inbox = submit_manifest(bucket, user, manifest).inbox_key
        job = claim(bucket, inbox, ClaimPolicy.from_settings(conn.settings, worker.owner))
        if job is None:  # pragma: no cover - nobody else can claim in a private store
            raise ConflictError("the job was claimed by another worker")
        status = worker.run(job)
        assert status is not None
        paths = _download_results(bucket, status, out_dir or Path("reelpipe-out") / job.job_id)
    return Processed(status, paths, job.status.key)


def _download_results(bucket: Bucket, status: StatusManifest, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"status": out_dir / "status.json"}
    paths["status"].write_text(json.dumps(status.model_dump(mode="json"), indent=2) + "\n")
    if status.state is JobState.SUCCEEDED and status.output_key:
        paths["output"] = bucket.download_file(status.output_key, out_dir / "output.mp4")
    return paths

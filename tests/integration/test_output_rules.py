"""The output rules hold for every source: only AAC is copied, pictures are not videos,
and what is clamped is said in the status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import ErrorKind
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import ffmpeg, job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere
from tests.stage_runs import fetch_output


def run(bucket: Bucket, settings: Settings, clip: Path, manifest: dict[str, Any]) -> StatusManifest:
    relative = upload_clip(bucket, "u", clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **manifest})
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    status = Worker(bucket, settings, LocalRunner(bucket, settings)).run(job)
    assert status is not None
    return status


def with_audio(source: Path, dest: Path, codec: str) -> Path:
    """``source``'s video with its audio re-encoded as ``codec`` (container from ``dest``)."""
    ffmpeg("-i", str(source), "-c:v", "copy", "-c:a", codec, str(dest))
    return dest


SOURCES = [
    ("pcm_s16le", "src.mov"),
    ("libmp3lame", "src.mp4"),
    ("libopus", "src.mkv"),
    ("ac3", "src.mkv"),
]


@pytest.mark.parametrize(("codec", "name"), SOURCES)
def test_non_aac_audio_is_encoded_to_aac_never_copied(
    bucket: Bucket, settings: Settings, tmp_path: Path, codec: str, name: str
) -> None:
    """Overlay copies AAC packets, but PCM, MP3, Opus and AC-3 are encoded to AAC, and the
    audio lasts as long as the video."""
    clip, truth = make_clip(tmp_path, duration_s=1.0)
    source = with_audio(clip, tmp_path / name, codec)
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=15)}}
    status = run(bucket, settings, source, job_manifest(overlay=overlay))
    assert status.state is JobState.SUCCEEDED, status.error
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert facts.audio is not None and facts.audio.codec == "aac"
    assert abs(facts.audio.duration_s - facts.video.duration_s) < 0.1


def test_joined_segments_encode_non_aac_audio_too(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A stage split into segments muxes the source's PCM audio once, as AAC."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    source = with_audio(clip, tmp_path / "src.mov", "pcm_s16le")
    split = settings.replace(segment_workers=2)
    overlay = {"highlight": {"boxes": truth.keyframes(0, every=15)}}
    status = run(bucket, split, source, job_manifest(overlay=overlay))
    assert status.state is JobState.SUCCEEDED, status.error
    assert status.stages[StageName.OVERLAY].workers == 2
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert facts.audio is not None and facts.audio.codec == "aac"


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("still.jpg", ["-frames:v", "1"]),
        ("still.png", ["-frames:v", "1"]),
        ("one.mp4", ["-frames:v", "1", "-an", "-c:v", "libx264"]),
    ],
)
def test_a_still_image_or_one_frame_is_not_a_video(
    bucket: Bucket, settings: Settings, tmp_path: Path, name: str, make: list[str]
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    still = tmp_path / name
    ffmpeg("-i", str(clip), *make, str(still))
    status = run(bucket, settings, still, job_manifest(framing={}))
    assert status.state is JobState.FAILED and status.error is not None
    assert status.error.kind is ErrorKind.INVALID_MEDIA
    assert "not a video" in status.error.message


def test_a_trim_past_the_end_is_clamped_and_said(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """trim.end_s beyond the clip ends with the clip, and the status carries a warning."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    framing = {"trim": {"start_s": 0.5, "end_s": 30.0}}
    status = run(bucket, settings, clip, job_manifest(framing=framing))
    assert status.state is JobState.SUCCEEDED, status.error
    assert status.stages[StageName.FRAMING].frames == 15
    assert len(status.warnings) == 1
    assert "trim.end_s (30 s) is past the end of the clip (1.00 s)" in status.warnings[0]

"""Upscale stage end to end: framing then upscale, classical and model backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import LimitExceeded
from pipeline.core.settings import Settings
from pipeline.jobs.claim import claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere, psnr, read_frame
from tests.stage_runs import fetch, run_stage, upload


def test_framing_then_upscale_doubles_the_reel_and_keeps_audio(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A cropped reel comes out exactly twice as large, even, with its audio."""
    clip, _ = make_clip(tmp_path, duration_s=1.5)
    relative = upload_clip(bucket, "u", clip)
    manifest = job_manifest(
        framing={"crop": {"x": 100, "y": 0, "width": 101, "height": 180}}, upscale={"scale": 2}
    )
    inbox = submit_manifest(bucket, "u", {"input_key": relative, **manifest})
    job = claim(bucket, inbox.inbox_key)
    assert job is not None
    status = Worker(bucket, settings, LocalRunner(bucket, settings)).run(job)
    assert status is not None and status.state is JobState.SUCCEEDED, status
    # Fused with framing: one pass, the crop's frames upscaled before the one encode.
    assert status.stages[StageName.UPSCALE].backend == "classical-lanczos (fused)"
    out = bucket.download_file(status.output_key or "", tmp_path / "out.mp4")
    facts = assert_playable_everywhere(out)
    assert (facts.video.width, facts.video.height) == (200, 360)
    assert facts.video.frames == 45
    assert facts.audio is not None
    assert abs(facts.audio.duration_s - facts.video.duration_s) < 0.05


def test_upscaled_picture_matches_the_source(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Downscaled back, the x2 output is close to its input (nothing shifted or garbled)."""
    clip, _ = make_clip(tmp_path, duration_s=0.5, audio=False)
    result = run_stage(bucket, settings, StageName.UPSCALE, {"scale": 2}, upload(bucket, clip))
    out = fetch(bucket, result, tmp_path)
    big = read_frame(out, 5, 640, 360)
    import cv2

    back = cv2.resize(big, (320, 180), interpolation=cv2.INTER_AREA)
    assert psnr(back, read_frame(clip, 5, 320, 180)) > 30


@pytest.mark.slow
def test_model_backend_runs_in_the_stage(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """With weights configured the stage runs the network and names it in the result."""
    torch = pytest.importorskip("torch")
    from pipeline.superres.srvgg import SRVGGNetCompact

    torch.manual_seed(0)
    weights = tmp_path / "tiny-x4.pth"
    torch.save({"params_ema": SRVGGNetCompact(num_feat=8, num_conv=2).state_dict()}, weights)
    with_model = settings.replace(upscale_weights=weights, upscale_tile=64)
    clip, _ = make_clip(tmp_path, width=160, height=90, duration_s=0.5)
    result = run_stage(bucket, with_model, StageName.UPSCALE, {"scale": 2}, upload(bucket, clip))
    assert result.backend == "srvgg-x4:tiny-x4.pth"
    facts = assert_playable_everywhere(fetch(bucket, result, tmp_path))
    assert (facts.video.width, facts.video.height) == (320, 180)
    assert facts.audio is not None


def test_output_over_the_limit_is_refused(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """x4 of a 320x180 clip under a 640x360 limit fails clearly, naming the setting."""
    clip, _ = make_clip(tmp_path, duration_s=0.5)
    small_limit = settings.replace(max_output_pixels=640 * 360)
    with pytest.raises(LimitExceeded, match="REELPIPE_MAX_OUTPUT_PIXELS"):
        run_stage(bucket, small_limit, StageName.UPSCALE, {"scale": 4}, upload(bucket, clip))

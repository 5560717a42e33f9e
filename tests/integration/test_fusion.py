"""Fused frame stages: one decode and one encode, the same pictures as the chain of
separate stages, one status record per stage, and a cache key over the group."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.core.settings import EncodeProfile, Settings
from pipeline.jobs.fusion import fusion_groups
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState, StageState
from pipeline.media.sample import Scene
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import StageResult
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.media_checks import assert_playable_everywhere, psnr
from tests.stage_runs import fetch_output, run_job

DETECT, FRAMING, OVERLAY, UPSCALE = (
    StageName.DETECT,
    StageName.FRAMING,
    StageName.OVERLAY,
    StageName.UPSCALE,
)


def reel_manifest(truth: Any, *, upscale: bool = False) -> dict[str, Any]:
    """Trim, a 9:16 crop, a 0.5x slow section, then the spotlight (and a x2 upscale)."""
    stages: dict[str, Any] = {
        "framing": {
            "trim": {"start_s": 0.2, "end_s": 1.8},
            "aspect": "9:16",
            "speed": [{"start_s": 0.6, "end_s": 1.0, "factor": 0.5}],
        },
        "overlay": {"highlight": {"boxes": truth.keyframes(0, every=10)}},
    }
    if upscale:
        stages["upscale"] = {"scale": 2, "backend": "classical"}
    return {"schema_version": 1, "stages": stages}


def all_frames(path: Path) -> np.ndarray:
    """Every frame as one (n, h, w, 3) RGB array, decoded by ffmpeg."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    width, height = (int(v) for v in probe.strip().split(","))
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)


def audio_span(path: Path) -> tuple[float, float]:
    """The audio stream's start and duration."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=start_time,duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    start, duration = out.strip().split(",")
    return float(start), float(duration)


def run_both(
    bucket: Bucket, settings: Settings, clip: Path, manifest: dict[str, Any], tmp_path: Path
) -> tuple[Path, Path]:
    """The job fused and as separate stages; their outputs."""
    fused = run_job(bucket, settings, clip, manifest, "fused")
    chained = run_job(bucket, settings.replace(fuse=False), clip, manifest, "chain")
    return (
        fetch_output(bucket, fused, tmp_path / "fused.mp4"),
        fetch_output(bucket, chained, tmp_path / "chained.mp4"),
    )


def test_with_a_lossless_intermediate_the_pass_draws_the_chains_pictures(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Make every encode lossless and the fused pass gives exactly the chain's pictures,
    frame for frame, under a panning camera (where a frame out of step scores far lower).
    So what separates the two at lossy settings is only how the encoders round."""
    clip, truth = make_clip(tmp_path, scene=Scene(pan=0.1))
    lossless = EncodeProfile(preset="ultrafast", crf=0)
    settings = settings.model_copy(
        update={"intermediate_encode": lossless, "final_encode": lossless}
    )
    a, b = run_both(bucket, settings, clip, reel_manifest(truth), tmp_path)
    frames_a, frames_b = all_frames(a), all_frames(b)
    assert len(frames_a) == len(frames_b) == 60  # 1.2 s + 0.4 s slowed twice
    scores = [psnr(x, y) for x, y in zip(frames_a, frames_b, strict=True)]
    assert min(scores) == float("inf"), f"frame {int(np.argmin(scores))}: {min(scores):.1f} dB"
    out_of_step = [psnr(x, y) for x, y in zip(frames_a[1:], frames_b[:-1], strict=True)]
    assert np.median(out_of_step) < 35.0  # (the slowed section repeats some frames)


def test_the_fused_pass_matches_the_chain_of_stages(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """With the shipped intermediate (ultrafast CRF 12): >= 40 dB on every frame against
    the separate stages at the same final settings, the same frame count, the audio
    where it was and in sync with the picture.

    What differs is the chain's intermediate and how two final encodes of slightly
    different pictures round: on this small busy clip ~40 dB at CRF 23 and ~45 dB at
    CRF 12 (the setting here); on 1080p at the default CRF 23, 47 dB and up."""
    clip, truth = make_clip(tmp_path)
    final = EncodeProfile(preset="veryfast", crf=12)
    settings = settings.replace(final_encode=final)
    a, b = run_both(bucket, settings, clip, reel_manifest(truth), tmp_path)
    facts_a, facts_b = assert_playable_everywhere(a), assert_playable_everywhere(b)
    size_a = (facts_a.video.width, facts_a.video.height)
    assert size_a == (facts_b.video.width, facts_b.video.height) == (100, 180)
    assert facts_a.video.frames == facts_b.video.frames == 60
    scores = [psnr(x, y) for x, y in zip(all_frames(a), all_frames(b), strict=True)]
    assert min(scores) >= 40.0, f"worst frame {int(np.argmin(scores))}: {min(scores):.1f} dB"
    assert facts_a.audio is not None and facts_b.audio is not None
    start_a, length_a = audio_span(a)
    start_b, length_b = audio_span(b)
    assert abs(start_a - start_b) < 0.03 and abs(length_a - length_b) < 0.03
    assert abs(length_a - facts_a.video.duration_s) < 0.1  # in sync with the picture


def test_fused_stages_keep_their_own_status_records(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """One record per stage: its own seconds, backend and outputs; framing leaves its
    timeline, the last stage the video; both carry the group's cache key."""
    clip, truth = make_clip(tmp_path)
    status = run_job(bucket, settings, clip, reel_manifest(truth, upscale=True), "records")
    framing, overlay, upscale = (status.stages[n] for n in (FRAMING, OVERLAY, UPSCALE))
    for record in (framing, overlay, upscale):
        assert record.state is StageState.SUCCEEDED and record.progress == 100.0
        assert record.duration_s is not None and record.duration_s > 0
        assert record.backend is not None and record.backend.endswith("(fused)")
        assert record.frames == 60 and record.attempts == 1
        assert record.cpu_seconds > 0  # charged its part of the pass
    assert set(framing.outputs) == {"timeline"} and not overlay.outputs
    assert status.output_key == upscale.outputs["video"]
    assert framing.cache_key == overlay.cache_key == upscale.cache_key is not None
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert (facts.video.width, facts.video.height) == (2 * 100, 2 * 180)
    assert facts.video.frames == 60 and facts.audio is not None


def test_a_fused_group_is_reused_whole_and_keyed_on_every_stage(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A re-run with nothing changed calls nothing; a change in the last stage's params
    changes the group's key."""
    clip, truth = make_clip(tmp_path)
    manifest = reel_manifest(truth)
    first = run_job(bucket, settings, clip, manifest, "first")

    calls: list[list[StageName]] = []

    class Counting(LocalRunner):
        def run(self, call: Any, progress: Any) -> list[StageResult]:
            calls.append(list(call.stages))
            return super().run(call, progress)

    from pipeline.jobs.claim import ClaimedJob
    from pipeline.jobs.lease import new_lease
    from pipeline.jobs.orchestrator import Orchestrator
    from pipeline.manifests.status import LeaseKind
    from pipeline.status.transitions import requeued

    job = ClaimedJob.existing(bucket, "u", first.job_id)
    # Run again as the nightly reprocessing does: requeued first (a finished job is not).
    job.status.update(lambda s: requeued(s, new_lease("nightly", 60.0, LeaseKind.CLAIM)))
    again = Orchestrator(bucket, Counting(bucket, settings), settings).run(job)
    assert again.state is JobState.SUCCEEDED and calls == []
    assert again.output_key == first.output_key

    styled = reel_manifest(truth)
    styled["stages"]["overlay"]["dim"] = 0.2
    second = run_job(bucket, settings, clip, styled, "second", runner=Counting(bucket, settings))
    assert calls == [[FRAMING, OVERLAY]]
    assert second.stages[OVERLAY].cache_key != first.stages[OVERLAY].cache_key


def test_an_error_in_a_fused_pass_names_the_stage_it_came_from(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A click on nobody fails the overlay, not the framing it is fused with."""
    clip, _ = make_clip(tmp_path)
    from pipeline.client.submit import submit_manifest, upload_clip
    from pipeline.jobs.claim import claim
    from pipeline.jobs.worker import Worker

    relative = upload_clip(bucket, "u", clip)
    manifest = {
        "input_key": relative,
        "stages": {
            "detect": {},
            "framing": {"aspect": "9:16"},
            "overlay": {"highlight": {"frame": 10, "x": 2, "y": 2}},  # grass, nobody
        },
    }
    job = claim(bucket, submit_manifest(bucket, "u", manifest).inbox_key)
    assert job is not None
    status = Worker(bucket, settings, LocalRunner(bucket, settings)).run(job)
    assert status is not None and status.state is JobState.FAILED
    assert status.error is not None and status.error.stage is OVERLAY
    assert "no player at (2, 2) near frame 10" in status.error.message
    assert status.stages[FRAMING].state is not StageState.SUCCEEDED


@pytest.mark.parametrize(
    ("fuse", "machine", "encoder", "groups"),
    [
        (True, "cpu", "auto", [[DETECT], [FRAMING, OVERLAY, UPSCALE]]),
        (True, None, "auto", [[DETECT], [FRAMING, OVERLAY], [UPSCALE]]),
        (True, None, "h264_nvenc", [[DETECT], [FRAMING, OVERLAY], [UPSCALE]]),
        (False, "cpu", "auto", [[DETECT], [FRAMING], [OVERLAY], [UPSCALE]]),
    ],
)
def test_stages_fuse_only_on_a_shared_machine(
    fuse: bool, machine: str | None, encoder: str, groups: list[list[StageName]]
) -> None:
    """Here every stage shares the machine; on Modal framing and overlay share a CPU (or,
    with NVENC, a T4) function and the upscaler has its own L4; REELPIPE_FUSE=0 splits all."""
    settings = Settings(fuse=fuse, video_encoder=encoder)  # type: ignore[arg-type]
    assert fusion_groups([DETECT, FRAMING, OVERLAY, UPSCALE], settings, machine=machine) == groups


def test_overlay_and_upscale_fuse_without_framing(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Without framing the group decodes the input itself and copies its audio through."""
    clip, truth = make_clip(tmp_path)
    manifest = {
        "schema_version": 1,
        "stages": {
            "overlay": {"highlight": {"boxes": truth.keyframes(0, every=10)}},
            "upscale": {"scale": 2, "backend": "classical"},
        },
    }
    status = run_job(bucket, settings, clip, manifest, "no-framing")
    assert status.stages[OVERLAY].backend == "pyav-x264 (fused)"
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "o.mp4"))
    assert (facts.video.width, facts.video.height, facts.video.frames) == (640, 360, 60)
    assert facts.audio is not None and facts.audio.codec == "aac"

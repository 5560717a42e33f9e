"""Parallel segments: a split overlay is the sequential overlay, frame for frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.settings import EncodeProfile, Settings
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import StageName
from pipeline.runners.modal import ModalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.integration.test_modal_runner import InProcessFunctions
from tests.media_checks import assert_playable_everywhere, inspect, psnr, read_frames
from tests.stage_runs import fetch_output, run_job


def boundary_frames(segments: list[tuple[int, int]]) -> list[int]:
    """The last frame of each part and the first of the next."""
    return sorted({i for start, _ in segments[1:] for i in (start - 1, start)})


@pytest.mark.slow
def test_sixty_second_overlay_in_four_segments_equals_sequential(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Same frame count; boundary frames >= 40 dB against sequential; audio within 50 ms.

    At CRF 18: two independent encodes of the same frames then agree at ~45 dB
    while a one-frame shift measures ~37 dB, so 40 dB separates the two
    cleanly (at the default CRF 23 independent encodes agree at only ~40-41 dB).
    """
    clip, truth = make_clip(tmp_path, duration_s=60.0)
    manifest = job_manifest(overlay={"highlight": {"boxes": truth.keyframes(0, every=30)}})
    fine = settings.model_copy(
        update={"final_encode": EncodeProfile(crf=18), "progress_interval_s": 0.5}
    )
    sequential = run_job(bucket, fine, clip, manifest, "sequential")
    split = fine.replace(segment_workers=4)
    segmented = run_job(bucket, split, clip, manifest, "segmented")

    overlay = segmented.stages[StageName.OVERLAY]
    assert overlay.workers == 4 and overlay.backend == "pyav-x264 x4"
    assert sequential.stages[StageName.OVERLAY].workers == 1
    seq = fetch_output(bucket, sequential, tmp_path / "seq.mp4")
    seg = fetch_output(bucket, segmented, tmp_path / "seg.mp4")
    seq_facts, seg_facts = inspect(seq), assert_playable_everywhere(seg)
    assert seg_facts.video.frames == seq_facts.video.frames == 1800
    assert seg_facts.audio is not None and seg_facts.audio.codec == "aac"
    assert abs(seg_facts.audio.duration_s - seg_facts.video.duration_s) <= 0.05

    cuts = boundary_frames([(0, 450), (450, 900), (900, 1350), (1350, 1800)])
    seq_frames, seg_frames = read_frames(seq, cuts, 320, 180), read_frames(seg, cuts, 320, 180)
    for index, a, b in zip(cuts, seq_frames, seg_frames, strict=True):
        assert psnr(a, b) >= 40.0, f"frame {index}: {psnr(a, b):.1f} dB"
    # The check can fail: a part starting one frame late would measure this.
    assert psnr(seq_frames[0], seg_frames[1]) < 40.0
    # The parts are scratch: only the joined video is left in the stage's folder.
    folder = overlay.outputs["video"].rsplit("/", 1)[0] + "/"
    assert [o.key.rsplit("/", 1)[1] for o in bucket.list(folder)] == ["video.mp4"]


def test_segments_run_in_local_worker_processes(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Two spawned processes each render a part; the joined clip has every frame."""
    clip, truth = make_clip(tmp_path, duration_s=3.0)
    manifest = job_manifest(overlay={"highlight": {"boxes": truth.keyframes(0, every=15)}})
    parallel = settings.replace(segment_workers=2, local_workers=2)
    status = run_job(bucket, parallel, clip, manifest, "processes")
    assert status.stages[StageName.OVERLAY].workers == 2
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert facts.video.frames == 90
    assert facts.audio is not None


def test_modal_runner_fans_segments_out_with_map(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Segments go through ``.map`` of the stage's function, one input per part: framing
    on its CPU function, then the upscale (its own L4 machine, so not fused) in 3 parts."""
    clip, _ = make_clip(tmp_path, duration_s=3.0)
    manifest = job_manifest(
        framing={"trim": {"start_s": 0.5, "end_s": 3.0}}, upscale={"backend": "classical"}
    )
    functions = InProcessFunctions(bucket, settings)
    split = settings.replace(segment_workers=3)
    status = run_job(bucket, split, clip, manifest, "modal", ModalRunner(functions))
    assert functions.calls["apply_upscale"].mapped == 3
    assert functions.calls["process_framing"].mapped == 0  # framing is never split
    assert functions.calls["process_framing"].calls == 1
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert facts.video.frames == 75 and facts.video.width == 640


def test_sequential_runs_are_not_split_by_default(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """One local worker: a clip the planner would split still runs whole."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    manifest = job_manifest(overlay={"highlight": {"boxes": truth.keyframes(0, every=15)}})
    long_clip_rules = settings.replace(segment_thresholds=((0.5, 1), (1e9, 4)))
    status = run_job(bucket, long_clip_rules, clip, manifest, "whole")
    assert status.stages[StageName.OVERLAY].workers == 1
    assert status.stages[StageName.OVERLAY].backend == "pyav-x264"


def test_detection_splits_into_segments_and_stitches(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """detect over 2 segments (the second from 1 s early): one detections.json for every
    frame, the parts removed, the job carries on to follow and overlay."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0)
    x, y, w, h = truth.boxes[100, 0]
    manifest = job_manifest(
        framing={"aspect": "9:16", "follow": "action"},
        overlay={"highlight": {"frame": 100, "x": float(x + w / 2), "y": float(y + h / 2)}},
    )
    split = settings.replace(segment_workers=2)
    status = run_job(bucket, split, clip, manifest, "split-detect")
    detect = status.stages[StageName.DETECT]
    assert detect.workers == 2 and detect.frames == 120
    doc = Detections.model_validate(bucket.get_json(detect.outputs["detections"]).data)
    assert len(doc.frames) == 120 and any(doc.frames[60]) and any(doc.frames[59])
    folder = detect.outputs["detections"].rsplit("/", 1)[0] + "/"
    assert [o.key.rsplit("/", 1)[1] for o in bucket.list(folder)] == ["detections.json"]
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert (facts.video.width, facts.video.height, facts.video.frames) == (202, 360, 120)


def test_upscale_splits_into_segments_too(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The classical x2 upscale in 3 parts: every frame, twice the size, audio kept."""
    clip, _ = make_clip(tmp_path, duration_s=2.0)
    split = settings.replace(segment_workers=3)
    status = run_job(bucket, split, clip, job_manifest(upscale={"scale": 2}), "upscale")
    assert status.stages[StageName.UPSCALE].workers == 3
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "up.mp4"))
    assert (facts.video.width, facts.video.height, facts.video.frames) == (640, 360, 60)
    assert facts.audio is not None

"""A job's last pass makes its poster and preview and muxes its audio itself: a fused
framing + overlay job runs one ffmpeg (the framing graph) besides probing its clip, and
never probes, seeks or downloads its own output afterwards."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import pytest
from structlog.testing import capture_logs

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.media.pass_previews import PASS_PREVIEWS
from pipeline.media.previews import cut_previews
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere, inspect, psnr, read_frame
from tests.stage_runs import fetch_output, run_job

BOXES = {"highlight": {"boxes": [[0, 100, 50, 20, 40], [59, 100, 50, 60, 100]]}}
FRAMING = {"trim": {"start_s": 0.0, "end_s": 2.0}, "aspect": "9:16"}


@pytest.fixture
def spawned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ffmpeg and ffprobe on PATH are shims that log each command line, then run the real
    tool; returns the log."""
    shims, log = tmp_path / "shims", tmp_path / "spawned.log"
    shims.mkdir()
    log.touch()
    for tool in ("ffmpeg", "ffprobe"):
        real = shutil.which(tool)
        assert real is not None
        shim = shims / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    return log


def test_a_fused_job_runs_one_ffmpeg_and_never_reads_its_output_back(
    bucket: Bucket, settings: Settings, tmp_path: Path, spawned: Path
) -> None:
    # Its own name: this process's probe cache never answers for another test's clip.
    clip, _ = make_clip(tmp_path, "one-pass.mp4", duration_s=2.0, audio=True)
    manifest = job_manifest(framing=FRAMING, overlay=BOXES)
    status = run_job(bucket, settings, clip, manifest, "one-pass")
    commands = spawned.read_text().splitlines()
    ffmpeg = [c for c in commands if c.startswith("ffmpeg ")]
    probes = [c for c in commands if c.startswith("ffprobe ")]
    assert len(ffmpeg) == 1 and "-filter_complex" in ffmpeg[0], commands
    # One probe, of the clip; nothing probes, seeks or reads the output (video.mp4 in the
    # bucket, fused.mp4 in scratch) once written.
    assert len(probes) == 1 and "one-pass.mp4" in probes[0], commands
    assert not any("video.mp4" in c or "fused.mp4" in c for c in commands), commands
    assert status.outputs["poster"].endswith("/previews/run-1/poster.jpg")
    assert status.outputs["preview"].endswith("/previews/run-1/preview.mp4")

    output = fetch_output(bucket, status, tmp_path / "out.mp4")
    facts = assert_playable_everywhere(output)
    assert facts.audio is not None and abs(facts.audio.duration_s - facts.video.duration_s) < 0.1
    best = status.stages[StageName.OVERLAY].details["best_frame"]
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    width, height = facts.video.width, facts.video.height
    assert picture.shape == (height, width)
    at_best = read_frame(output, best, width, height).mean(axis=2)
    at_start = read_frame(output, 0, width, height).mean(axis=2)
    assert psnr(picture, at_best) > psnr(picture, at_start) + 3
    preview = inspect(bucket.download_file(status.outputs["preview"], tmp_path / "p.mp4"))
    assert preview.audio is None and preview.video.duration_s <= 2.05


@pytest.mark.parametrize(
    ("stages", "ffmpeg_runs"),
    [({"overlay": BOXES}, 0), ({"framing": FRAMING}, 1)],
    ids=["overlay", "framing"],
)
def test_a_single_stage_job_cuts_its_previews_without_another_ffmpeg(
    bucket: Bucket,
    settings: Settings,
    tmp_path: Path,
    spawned: Path,
    stages: dict[str, object],
    ffmpeg_runs: int,
) -> None:
    """Overlay alone encodes in this process (no ffmpeg at all); framing alone is its one
    ffmpeg graph. Either way the poster and preview cost no ffmpeg of their own."""
    clip, _ = make_clip(tmp_path, "single-stage.mp4", duration_s=2.0, audio=True)
    status = run_job(bucket, settings, clip, job_manifest(**stages), "single")
    commands = spawned.read_text().splitlines()
    assert sum(c.startswith("ffmpeg ") for c in commands) == ffmpeg_runs, commands
    probes = [c for c in commands if c.startswith("ffprobe ")]
    assert len(probes) <= 1 and all("single-stage.mp4" in c for c in probes), commands
    assert not any("video.mp4" in c for c in commands), commands  # the output, never read
    assert {"poster", "preview"} <= set(status.outputs)


def test_a_segmented_job_cuts_its_previews_from_the_joined_file(
    bucket: Bucket, settings: Settings, tmp_path: Path, spawned: Path
) -> None:
    """An overlay split in 2 segments: the join (one ffmpeg) also cuts the poster, at the
    joined details' best frame, and the preview; nothing probes or reads the output."""
    clip, _ = make_clip(tmp_path, "segmented.mp4", duration_s=2.0, audio=True)
    split = settings.replace(segment_workers=2)
    status = run_job(bucket, split, clip, job_manifest(overlay=BOXES), "segmented")
    assert status.stages[StageName.OVERLAY].workers == 2, status.stages
    commands = spawned.read_text().splitlines()
    ffmpeg = [c for c in commands if c.startswith("ffmpeg ")]
    assert len(ffmpeg) == 1 and "concat" in ffmpeg[0], commands  # the join, nothing else
    assert not any("video.mp4" in c and c.startswith("ffprobe ") for c in commands), commands
    output = fetch_output(bucket, status, tmp_path / "out.mp4")
    facts = inspect(output)
    best = status.stages[StageName.OVERLAY].details["best_frame"]
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    width, height = facts.video.width, facts.video.height
    at_best = read_frame(output, best, width, height).mean(axis=2)
    at_start = read_frame(output, 0, width, height).mean(axis=2)
    assert psnr(picture, at_best) > psnr(picture, at_start) + 3


@pytest.mark.parametrize(
    "stages",
    [{"framing": FRAMING}, {"overlay": BOXES}, {"framing": FRAMING, "overlay": BOXES}],
    ids=["framing", "overlay", "fused"],
)
def test_the_last_pass_makes_the_poster_and_preview_without_decoding_its_output(
    bucket: Bucket, settings: Settings, tmp_path: Path, stages: dict[str, object]
) -> None:
    """The pass that writes the job's video makes its poster and preview from the frames it
    already has: the cut after it decodes no frame of the output, and what it hands on is
    the poster it was asked for (the frame shown) and a short silent preview."""
    clip, _ = make_clip(tmp_path, "pass-previews.mp4", duration_s=2.0, audio=True)
    with capture_logs() as logs:
        status = run_job(bucket, settings, clip, job_manifest(**stages), "pass-previews")
    cuts = [entry for entry in logs if entry["event"] == "previews_cut"]
    assert [entry["decoded"] for entry in cuts] == [0], cuts
    output = fetch_output(bucket, status, tmp_path / "out.mp4")
    facts = inspect(output)
    frame = cuts[0]["frame"]
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    width, height = facts.video.width, facts.video.height
    assert picture.shape == (height, width)
    shown = read_frame(output, frame, width, height).mean(axis=2)
    assert psnr(picture, shown) > 30
    preview_path = bucket.download_file(status.outputs["preview"], tmp_path / "p.mp4")
    preview = inspect(preview_path)
    assert preview.audio is None and 0.5 < preview.video.duration_s <= 2.05

    # The same two files as the cut makes by decoding the output, asked the same.
    overlay = status.stages.get(StageName.OVERLAY)
    details = overlay.details if overlay is not None else {}
    window = details.get("preview_window")
    PASS_PREVIEWS.clear()
    decoded = cut_previews(
        output,
        tmp_path / "cut-poster.jpg",
        tmp_path / "cut-preview.mp4",
        frame=details.get("best_frame"),
        window=(window[0], window[1]) if window else None,
    )
    assert decoded.frame == frame
    with av.open(str(tmp_path / "cut-poster.jpg")) as image:
        cut_picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    assert psnr(picture, cut_picture) > 30
    cut_preview = inspect(tmp_path / "cut-preview.mp4")
    assert preview.video == cut_preview.video
    assert (preview.video.codec, preview.video.pix_fmt) == ("h264", "yuv420p")
    with av.open(str(preview_path)) as held, av.open(str(tmp_path / "cut-preview.mp4")) as cut:
        assert held.streams.video[0].profile == cut.streams.video[0].profile == "Main"
        pairs = zip(held.decode(video=0), cut.decode(video=0), strict=True)
        for a, b in pairs:
            assert psnr(a.to_ndarray(format="gray"), b.to_ndarray(format="gray")) > 30

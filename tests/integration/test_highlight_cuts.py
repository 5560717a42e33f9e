"""Nothing is lit where the player is not: a highlight ends at a hard cut (clicked tracks
and box keyframes alike), and the poster shows the player lit."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.storage.bucket import Bucket
from tests.factories import clip_with_a_cut, job_manifest
from tests.media_checks import psnr, read_frame, read_frames
from tests.stage_runs import fetch, fetch_output, run_job, run_stage, upload

CUT = 45  # clip_with_a_cut: the game for frames 0-44, another scene from 45


def untouched(clip: Path, out: Path, frames: list[int]) -> list[float]:
    """Per frame: the mean absolute difference of the output from the source (0-255)."""
    before = read_frames(clip, frames, 320, 180)
    after = read_frames(out, frames, 320, 180)
    return [
        float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())
        for a, b in zip(after, before, strict=True)
    ]


def test_a_clicked_players_light_ends_at_the_cut(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Clicked before the cut: the spotlight is on before it and off from the first frame
    after it (no fade, no ring held on the other scene)."""
    clip, truth = clip_with_a_cut(tmp_path)
    x, y, w, h = truth.boxes[20, 0]
    click = {"frame": 20, "x": float(x + w / 2), "y": float(y + h / 2)}
    status = run_job(
        bucket,
        settings,
        clip,
        job_manifest(detect={"backend": "motion", "stride": 1}, overlay={"highlight": click}),
        "cut-click",
    )
    out = fetch_output(bucket, status, tmp_path / "out.mp4")
    lit, dark = untouched(clip, out, [20, 40]), untouched(clip, out, list(range(CUT, CUT + 15)))
    assert min(lit) > 8, lit  # dimmed around him
    assert max(dark) < 2, dark  # nothing drawn on the other scene
    details = status.stages[StageName.OVERLAY].details
    assert details["coverage"][-1] == "lost", details["coverage"]
    assert details["best_frame"] < CUT


def test_box_keyframes_are_not_held_across_a_cut(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Keyframes before the cut light nothing after it; keyframes after it light nothing
    before it (the overlay finds the cut itself when no detect stage ran)."""
    clip, truth = clip_with_a_cut(tmp_path)
    key = upload(bucket, clip)
    before = [[f, *(float(v) for v in truth.boxes[f, 0])] for f in (0, 20, 40)]
    after = [[f, 100.0, 60.0, 12.0, 30.0] for f in (50, 70, 89)]
    for boxes, lit_frames, dark_frames in (
        (before, [0, 30, 44], [CUT, 60, 89]),
        (after, [CUT, 60, 89], [0, 30, 44]),
    ):
        result = run_stage(
            bucket, settings, StageName.OVERLAY, {"highlight": {"boxes": boxes}}, key
        )
        out = fetch(bucket, result, tmp_path, "boxes.mp4")
        lit, dark = untouched(clip, out, lit_frames), untouched(clip, out, dark_frames)
        assert min(lit) > 8 and max(dark) < 2, (boxes[0][0], lit, dark)


def test_the_poster_is_the_lit_player_not_frame_zero(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Box keyframes after the cut: the poster is a frame of that shot with the player lit
    (its JPEG is that output frame, not frame 0), and the preview stays in that shot."""
    clip, _ = clip_with_a_cut(tmp_path)
    boxes = [[f, 100.0, 60.0, 12.0 + f / 10, 30.0 + f / 4] for f in (50, 70, 89)]
    status = run_job(
        bucket, settings, clip, job_manifest(overlay={"highlight": {"boxes": boxes}}), "poster"
    )
    details = status.stages[StageName.OVERLAY].details
    best = details["best_frame"]
    start, end = details["preview_window"]
    assert best in (50, 70, 89), best  # a keyframe: where the user said he is
    assert CUT <= start < end <= 90
    output = fetch_output(bucket, status, tmp_path / "out.mp4")
    poster = bucket.download_file(status.outputs["poster"], tmp_path / "poster.jpg")
    with av.open(str(poster)) as image:
        picture = next(image.decode(video=0)).to_ndarray(format="rgb24").mean(axis=2)
    at_best = read_frame(output, best, 320, 180).mean(axis=2)
    at_start = read_frame(output, 0, 320, 180).mean(axis=2)
    assert psnr(picture, at_best) > psnr(picture, at_start) + 3

"""The overlay follows a picked track from the detections: on the player, bridging
short gaps, fading out while he is lost."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from pathlib import Path

import numpy as np

from pipeline.core.settings import Settings
from pipeline.follow.pick import pick_track
from pipeline.manifests.detections import Detections, Row, VideoFacts
from pipeline.manifests.job import Highlight, StageName
from pipeline.media.sample import SampleTruth
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.integration.test_overlay_stage import luma
from tests.media_checks import read_frame
from tests.stage_runs import JOB_ID, fetch, run_stage, upload


def truth_detections(
    truth: SampleTruth,
    missing: Mapping[int, Container[int]] | None = None,
    *,
    always: Sequence[Row] = (),
) -> Detections:
    """Exact tracks (track id = player index); ``missing[player]``: frames he is not found;
    ``always``: rows found on every frame (an occluder)."""
    frames: list[list[Row]] = []
    for f in range(truth.frames):
        rows: list[Row] = list(always)
        for p, (x, y, w, h) in enumerate(truth.boxes[f]):
            if missing and f in missing.get(p, range(0)):
                continue
            rows.append((0, 0.9, p, float(x), float(y), float(x + w), float(y + h), 0))
        frames.append(rows)
    video = VideoFacts(
        width=truth.width, height=truth.height, fps=float(truth.fps), frame_count=truth.frames
    )
    return Detections(
        backend="truth",
        video=video,
        classes=["player", "ball"],
        frames=frames,
        ball=[None] * truth.frames,
        action=[None] * truth.frames,
    )


def test_a_click_picks_the_player_under_it(tmp_path: Path) -> None:
    """The click's track is the clicked player's; its boxes are his."""
    _, truth = make_clip(tmp_path, duration_s=1.0, audio=False)
    doc = truth_detections(truth)
    x, y, w, h = truth.boxes[12, 3]
    picked = pick_track(doc, Highlight(frame=12, x=float(x + w / 2), y=float(y + h / 2)))
    assert picked.track_id == 3
    frame, *box = picked.keyframes[20]
    assert np.allclose(box, truth.boxes[frame, 3], atol=0.5)  # his path, smoothed


def test_short_gaps_are_bridged_and_long_ones_fade(tmp_path: Path) -> None:
    """0.2 s lost: full strength; 1.5 s lost: fades to zero in the middle, and back in from
    where he is found again (never before he is there)."""
    _, truth = make_clip(tmp_path, duration_s=4.0, audio=False)
    doc = truth_detections(truth, {1: range(20, 26)})
    assert pick_track(doc, Highlight(track_id=1)).strength[20:26].min() == 1.0
    doc = truth_detections(truth, {1: range(40, 85)})
    strength = pick_track(doc, Highlight(track_id=1)).strength
    assert strength[39] == 1.0 and strength[62] == 0.0 and strength[84] == 0.0
    assert 0 < strength[85] < strength[90] < 1 and strength[97] == 1.0
    assert 0 < strength[43] < 1  # fading, not switched off
    assert np.all(np.abs(np.diff(strength)) <= 0.1)  # never a jump


def test_overlay_follows_the_track_through_the_clip(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """With ``track_id``, the spotlight sits on that player on every checked frame."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    key = f"users/u/jobs/{JOB_ID}/detect/detections.json"
    bucket.put_json(key, truth_detections(truth).model_dump(mode="json"))
    result = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        {"highlight": {"track_id": 4}, "dim": 0.4},
        upload(bucket, clip),
        upstream={StageName.DETECT: {"detections": key}},
    )
    out = fetch(bucket, result, tmp_path)
    for frame in (3, 30, 57):
        before = luma(read_frame(clip, frame, 320, 180))
        after = luma(read_frame(out, frame, 320, 180))
        x, y, w, h = truth.boxes[frame, 4]
        cy, cx = int(y + h / 2), int(x + w / 2)
        lit = (slice(cy - 3, cy + 3), slice(cx - 2, cx + 2))
        assert abs(after[lit].mean() - before[lit].mean()) < 12, f"frame {frame}"

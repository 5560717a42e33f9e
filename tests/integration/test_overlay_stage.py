"""Overlay stage: the spotlight lands on the player, frames and audio are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.settings import Settings
from pipeline.manifests.job import StageName
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip, make_rotated
from tests.media_checks import assert_playable_everywhere, read_frame
from tests.stage_runs import fetch, run_stage, upload


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_spotlight_follows_the_player_and_keeps_audio(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Around the highlighted player the picture is as bright as before; far away it is dimmed."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    progress: list[float] = []
    result = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        {"highlight": {"boxes": truth.keyframes(0, every=15)}, "dim": 0.4},
        upload(bucket, clip),
        progress=progress,
    )
    out = fetch(bucket, result, tmp_path)
    facts = assert_playable_everywhere(out)
    assert (facts.video.width, facts.video.height) == (320, 180)
    assert facts.video.frames == truth.frames == result.frames
    assert facts.audio is not None and facts.audio.codec == "aac"
    assert abs(facts.audio.duration_s - facts.video.duration_s) < 0.05
    assert progress[-1] == 1.0
    for frame in (5, 20, 40, 59):
        before, after = (
            luma(read_frame(clip, frame, 320, 180)),
            luma(read_frame(out, frame, 320, 180)),
        )
        x, y, w, h = truth.boxes[frame, 0]
        cy, cx = int(y + h / 2), int(x + w / 2)
        lit = (slice(cy - 3, cy + 3), slice(cx - 2, cx + 2))
        assert abs(after[lit].mean() - before[lit].mean()) < 12
        far_x = 10 if cx > 160 else 300
        far = (slice(5, 25), slice(far_x, far_x + 10))
        # Dimmed exactly once by 0.4 (in full-range RGB terms), never compounded.
        assert abs(after[far].mean() - 0.4 * before[far].mean()) < 5


def test_overlay_after_framing_maps_boxes_through_the_timeline(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """With a trim and a crop before it, the spotlight still sits on the player."""
    clip, truth = make_clip(tmp_path, duration_s=3.0)
    key = upload(bucket, clip)
    x0 = 110
    framing = run_stage(
        bucket,
        settings,
        StageName.FRAMING,
        {
            "trim": {"start_s": 1.0, "end_s": 3.0},
            "crop": {"x": x0, "y": 0, "width": 100, "height": 180},
            "speed": [{"start_s": 1.5, "end_s": 2.0, "factor": 0.5}],
        },
        key,
    )
    framed = fetch(bucket, framing, tmp_path, "framed.mp4")
    overlay = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        {"highlight": {"boxes": truth.keyframes(0, every=5)}},
        framing.outputs["video"],
        upstream={StageName.FRAMING: framing.outputs},
    )
    out = fetch(bucket, overlay, tmp_path)
    facts = assert_playable_everywhere(out)
    assert (facts.video.width, facts.video.height) == (100, 180)
    # Output frame 0 shows source frame 30; output frame 40 is inside the slow part (source 50).
    for out_frame, src_frame in ((0, 30), (40, 50)):
        before = luma(read_frame(framed, out_frame, 100, 180))
        after = luma(read_frame(out, out_frame, 100, 180))
        x, y, w, h = truth.boxes[src_frame, 0]
        cx, cy = int(x + w / 2) - x0, int(y + h / 2)
        assert 0 <= cx < 100
        lit = (slice(cy - 3, cy + 3), slice(cx - 2, cx + 2))
        assert abs(after[lit].mean() - before[lit].mean()) < 12
        corner = (slice(2, 12), slice(2, 12)) if cy > 90 else (slice(168, 178), slice(2, 12))
        assert after[corner].mean() < 0.6 * before[corner].mean()


def test_overlay_on_a_rotated_source_is_upright(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """A rotated phone clip straight into overlay comes out portrait, no rotation flag."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    rotated = make_rotated(clip, tmp_path / "rot.mp4", 270)
    result = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        {"highlight": {"boxes": [[0, 60, 100, 20, 50]]}, "style": "ring"},
        upload(bucket, rotated),
    )
    facts = assert_playable_everywhere(fetch(bucket, result, tmp_path))
    assert (facts.video.width, facts.video.height, facts.rotation) == (180, 320, 0)


def test_each_frame_is_dimmed_exactly_once(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Edits never leak into frames the decoder is still predicting from.

    An ``ultrafast`` clip (every frame predicted from the one before, as the
    pipeline's intermediates are) decoded on several threads: were the decoded
    pictures edited in place while still serving as references, the dimming
    would compound from frame to frame.
    """
    from pipeline.core.settings import EncodeProfile
    from pipeline.media.sample import write_sample_clip

    clip = tmp_path / "intermediate.mp4"
    write_sample_clip(
        clip,
        width=320,
        height=180,
        duration_s=2.0,
        profile=EncodeProfile(preset="ultrafast", crf=12),
    )
    result = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        {"highlight": {"boxes": [[0, 10, 10, 10, 20]]}, "dim": 0.4},
        upload(bucket, clip),
    )
    out = fetch(bucket, result, tmp_path)
    far = (slice(100, 170), slice(150, 310))
    for frame in range(0, 60, 7):
        before = luma(read_frame(clip, frame, 320, 180))[far].mean()
        after = luma(read_frame(out, frame, 320, 180))[far].mean()
        assert abs(after - 0.4 * before) < 5, (frame, before, after)

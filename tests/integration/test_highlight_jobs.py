"""Jobs driven by detection: detect -> framing (follow, 9:16) -> overlay (click / track)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.settings import Settings
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip
from tests.media_checks import assert_playable_everywhere, read_frames
from tests.stage_runs import fetch_output, run_job


def test_follow_and_click_make_a_vertical_reel(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """The job succeeds; the reel is 9:16 with even sides, every frame and the audio kept,
    and the spotlight sits on the clicked player after reframing."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=3.0)
    x, y, w, h = truth.boxes[30, 0]
    click = {"frame": 30, "x": float(x + w / 2), "y": float(y + h / 2)}
    manifest = job_manifest(
        framing={"aspect": "9:16", "follow": "action"}, overlay={"highlight": click}
    )
    status = run_job(bucket, settings, clip, manifest, "reel")
    assert [s.value for s in status.stages] == ["detect", "framing", "overlay"]
    assert status.stages[StageName.DETECT].backend == "motion"  # no YOLO weights configured
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "reel.mp4"))
    assert (facts.video.width, facts.video.height) == (202, 360)
    assert (
        facts.video.width % 2 == 0 and abs(facts.video.width / facts.video.height - 9 / 16) < 0.01
    )
    assert facts.video.frames == 90 and facts.audio is not None
    # The status says whom the click picked, and where the spotlight found him.
    details = status.stages[StageName.OVERLAY].details
    picked = details["picked"]
    assert picked["frame"] == 30 and picked["backend"] == "motion"
    bx, _, bw, _ = picked["box"]
    assert bx <= x + w / 2 <= bx + bw + 0.08 * 640 and bw <= 320
    assert len(details["coverage"]) == 3
    assert set(details["coverage"]) <= {"found", "coasted", "lost"}
    assert 0.0 <= details["lit"] <= 1.0
    # What the motion backend's track gives today is reported as it is (issue 11's
    # tracking work is what will turn these seconds into "found").

    # The clicked player is inside the moving crop, and the spotlight is on: away from
    # him the picture is dimmed. (Motion blobs cover parts of a player, so where exactly
    # the light falls is checked with exact tracks in the overlay's own tests.)
    timeline = FramingTimeline.model_validate(
        bucket.get_json(status.outputs["framing.timeline"]).data
    )
    reel = tmp_path / "reel.mp4"
    (after,) = read_frames(reel, [30], 202, 360)
    dx, dy = timeline.crop_origin(30)
    (source,) = read_frames(clip, [round(timeline.source_frame(30))], 640, 360)
    before = source[dy : dy + 360, dx : dx + 202]  # the same window, not spotlit
    px, py = int(x + w / 2 - dx), int(y + h / 2 - dy)
    assert 0 <= px < 202 and 0 <= py < 360, "the followed crop keeps the clicked player"
    assert float(after[:40].mean()) < 0.8 * float(before[:40].mean())


def test_a_track_id_highlight_follows_that_track(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """``{"track_id": N}`` picks a track from the detections; the job succeeds."""
    clip, _ = make_clip(tmp_path, width=640, height=360, duration_s=2.0, audio=False)
    first = run_job(bucket, settings, clip, job_manifest(detect={"backend": "motion"}), "scan")
    doc = Detections.model_validate(bucket.get_json(first.outputs["detect.detections"]).data)
    assert doc.track_ids(), "motion blobs are tracked"
    track = doc.track_ids()[0]
    status = run_job(
        bucket, settings, clip, job_manifest(overlay={"highlight": {"track_id": track}}), "pick"
    )
    facts = assert_playable_everywhere(fetch_output(bucket, status, tmp_path / "out.mp4"))
    assert facts.video.frames == 60
    assert status.stages[StageName.OVERLAY].details["picked"]["track_id"] == track


def test_aspect_without_follow_centre_crops(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """No detect stage; a centred 9:16 window."""
    clip, _ = make_clip(tmp_path, width=640, height=360, duration_s=1.0)
    status = run_job(bucket, settings, clip, job_manifest(framing={"aspect": "9:16"}), "centre")
    assert list(status.stages) == [StageName.FRAMING]
    timeline = FramingTimeline.model_validate(
        bucket.get_json(status.outputs["framing.timeline"]).data
    )
    assert (timeline.crop.x, timeline.crop.width, timeline.crop_path) == (218, 202, [])


def test_a_vertical_reel_can_follow_the_clicked_player(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """``follow: "player"``: the 9:16 window follows the overlay's clicked player, not the
    action; the player far from the middle stays inside it, and framing reports whom."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=3.0, audio=False)
    centres = truth.boxes[30, :, 0] + truth.boxes[30, :, 2] / 2
    player = int(np.argmax(abs(centres - 320)))  # the one a centred window would cut off
    x, y, w, h = truth.boxes[30, player]
    click = {"frame": 30, "x": float(x + w / 2), "y": float(y + h / 2)}
    manifest = job_manifest(
        framing={"aspect": "9:16", "follow": "player"}, overlay={"highlight": click}
    )
    status = run_job(bucket, settings, clip, manifest, "follow-player")
    assert status.stages[StageName.FRAMING].details["picked"]["frame"] == 30
    # The detect pass also followed the clicked player by his look, for both stages.
    doc = Detections.model_validate(bucket.get_json(status.outputs["detect.detections"]).data)
    (looked,) = doc.looks_followed
    assert (looked.frame, looked.x, looked.y) == (30, click["x"], click["y"])
    assert len(looked.boxes) >= 60 and len(looked.appearance) == len(looked.boxes)
    timeline = FramingTimeline.model_validate(
        bucket.get_json(status.outputs["framing.timeline"]).data
    )
    inside = [
        timeline.crop_origin(f)[0] <= bx and bx + bw <= timeline.crop_origin(f)[0] + 202
        for f, (bx, _, bw, _) in enumerate(truth.boxes[:, player])
    ]
    assert np.mean(inside) >= 0.95, np.mean(inside)
    assert not 59 <= truth.boxes[30, player, 0] <= 640 - 59 - 202 + 59  # really off-centre

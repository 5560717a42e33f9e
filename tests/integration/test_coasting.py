"""The clicked player behind a post: the ring coasts on his predicted path for up to
``coast_s`` (never onto the post), then stops, and the status says so per second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.core.settings import Settings
from pipeline.follow.highlight_track import HighlightTrack
from pipeline.follow.pick import pick_track
from pipeline.follow.player import FILLED, LOST, SEEN
from pipeline.manifests.detections import Detections, Row
from pipeline.manifests.job import DetectParams, Highlight, StageName
from pipeline.media.sample import POST_X, SampleTruth, Scene
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.integration.test_track_highlight import truth_detections
from tests.media_checks import read_frames
from tests.stage_runs import JOB_ID, fetch, run_stage, upload

W, H = 640, 360


def behind_the_post(truth: SampleTruth) -> np.ndarray:
    """The frames where more than half of player 0 is behind the post."""
    centre = truth.boxes[:, 0, 0] + truth.boxes[:, 0, 2] / 2
    half_post = truth.boxes[0, 0, 2]  # the post is twice a player's width
    hidden: np.ndarray = np.flatnonzero(np.abs(centre - POST_X * truth.width) < half_post)
    return hidden


def detections_with_the_post(truth: SampleTruth, hidden: np.ndarray) -> Detections:
    """Exact boxes of every player (track id = index), player 0 missing while hidden, and
    the post itself detected on every frame (an occluder the ring must not jump onto)."""
    pw = float(truth.boxes[0, 0, 2])
    post: Row = (0, 0.9, 99, POST_X * W - pw, 0.2 * H, POST_X * W + pw, 0.9 * H, 0)
    return truth_detections(truth, {0: set(hidden.tolist())}, always=[post])


@pytest.fixture(scope="module")
def post_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleTruth]:
    """6 s: player 0 walks behind the post for about 1 s (frames ~52-82)."""
    directory = tmp_path_factory.mktemp("post")
    return make_clip(
        directory, width=W, height=H, duration_s=6.0, audio=False, scene=Scene(post=True)
    )


def click(truth: SampleTruth) -> Highlight:
    x, y, w, h = truth.boxes[15, 0]
    return Highlight(frame=15, x=float(x + w / 2), y=float(y + h / 2))


def test_the_ring_coasts_on_his_path_behind_the_post(post_clip: tuple[Path, SampleTruth]) -> None:
    """coast_s 1.5 s: hidden for ~1 s, the ring is on his predicted path (his size, near
    where he really is), never on the post, and he is found again after it."""
    _, truth = post_clip
    hidden = behind_the_post(truth)
    assert 25 <= len(hidden) <= 40, len(hidden)
    picked = pick_track(detections_with_the_post(truth, hidden), click(truth), bridge_s=1.5)
    assert (picked.seen[hidden] == FILLED).all()
    assert (picked.seen[hidden[-1] + 3 : hidden[-1] + 30] == SEEN).all()  # found again
    track = HighlightTrack(picked.keyframes, strength=picked.strength)
    for f in hidden:
        box = track.box_at(int(f))
        assert box is not None and track.strength_at(int(f)) == 1.0
        tx, _, tw, th = truth.boxes[f, 0]
        assert abs(box.x + box.w / 2 - (tx + tw / 2)) < 0.5 * tw, f  # on his path
        assert 0.7 < box.h / th < 1.3, f  # his size: not the post's (4x taller)


def test_after_coast_s_the_ring_stops_and_the_status_says_so(
    bucket: Bucket, settings: Settings, post_clip: tuple[Path, SampleTruth], tmp_path: Path
) -> None:
    """coast_s 0.2 s: the ring coasts for 0.2 s, then the light goes out (the output's
    frames there are the source's), and comes back where he is found again; the status
    records found, then lost, then found per second, and the share of frames he was lit."""
    clip, truth = post_clip
    hidden = behind_the_post(truth)
    key = f"users/u/jobs/{JOB_ID}/detect/detections.json"
    bucket.put_json(key, detections_with_the_post(truth, hidden).model_dump(mode="json"))
    params = {"highlight": click(truth).model_dump(exclude_none=True), "coast_s": 0.2}
    result = run_stage(
        bucket,
        settings,
        StageName.OVERLAY,
        params,
        upload(bucket, clip),
        upstream={StageName.DETECT: {"detections": key}},
    )
    details = result.details
    first, last = int(hidden[0]), int(hidden[-1])
    coasted = range(first, first + 6)
    dark = range(first + 6 + 13, last)  # past the 0.4 s fade
    assert details["coverage"][0] == "found" and details["coverage"][2] == "lost"
    assert details["coverage"][-1] == "found", details["coverage"]
    share = details["lit"]
    assert isinstance(share, float) and 0.7 < share < (180 - len(dark)) / 180
    out = fetch(bucket, result, tmp_path)
    frames = [coasted[0], coasted[-1], *dark[::4]]
    before, after = read_frames(clip, frames, W, H), read_frames(out, frames, W, H)
    diff = [
        float(np.abs(a.astype(float) - b.astype(float)).mean())
        for a, b in zip(after, before, strict=True)
    ]
    assert min(diff[:2]) > 8 and max(diff[2:]) < 4, diff  # 4: re-encoding noise alone
    picked = pick_track(detections_with_the_post(truth, hidden), click(truth), bridge_s=0.2)
    assert (picked.seen[list(coasted)] == FILLED).all() and (picked.seen[list(dark)] == LOST).all()


def test_the_rings_centre_moves_smoothly_on_the_motion_backends_boxes(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    """Motion blobs wobble by pixels a frame; the ring (the feet of the drawn box) does not:
    the 95th percentile of its second difference is under 2 px/frame^2 (about 21 with the
    blobs' own boxes), and it stays as near the player as they are."""
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=4.0, audio=False)
    request = StageRequest(
        user_id="u",
        job_id=JOB_ID,
        stage=StageName.DETECT,
        video_key=upload(bucket, clip),
        params=DetectParams.model_validate({"backend": "motion", "stride": 1}),
        final=False,
    )
    [result] = LocalRunner(bucket, settings).run(Call.of(request), lambda f: None)
    doc = Detections.model_validate(bucket.get_json(result.outputs["detections"]).data)
    x, y, w, h = truth.boxes[30, 0]
    picked = pick_track(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
    track = HighlightTrack(picked.keyframes, strength=picked.strength)
    ring = np.full((truth.frames, 2), np.nan)
    for f in range(truth.frames):
        box = track.box_at(f)
        if box is not None and track.strength_at(f) >= 0.5:
            ring[f] = (box.x + box.w / 2, box.y + box.h)
    second = np.linalg.norm(ring[2:] - 2 * ring[1:-1] + ring[:-2], axis=1)
    second = second[~np.isnan(second)]
    assert len(second) >= 0.8 * truth.frames and np.percentile(second, 95) < 2.0, second
    feet = truth.boxes[:, 0, :2] + truth.boxes[:, 0, 2:] * (0.5, 1.0)
    assert np.nanmedian(np.linalg.norm(ring - feet, axis=1)) < 0.5 * truth.boxes[0, 0, 3]

"""A click followed by its look in the detect pass's own decode gives the boxes a decode of
its shot gives, ends at the shot's cut, and a click the pass cannot vouch for (its span
not all decoded by the pass) is followed by a decode of its own, to the same boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.contract import FrameDetections
from pipeline.detect.motion import MotionDetector
from pipeline.detect.shots import ShotCuts
from pipeline.follow.look_in_pass import LooksInPass
from pipeline.follow.look_seed import look_seed
from pipeline.manifests.detections import Detections, FollowedLook, VideoFacts
from pipeline.manifests.job import Click, DetectParams
from pipeline.media.probe import probe
from pipeline.media.sample import Scene
from pipeline.stages.detect import PassPlan, detect_pass, follow_clicks
from tests.factories import make_clip

W, H, CUT_S, CLICK_FRAME = 640, 360, 2.0, 30


def _clicks(doc: Detections, boxes: np.ndarray) -> list[Click]:
    """A click on the centre of each generated player that has a box under it."""
    clicks = []
    for x, y, w, h in boxes[CLICK_FRAME]:
        click = Click(frame=CLICK_FRAME, x=round(x + w / 2), y=round(y + h / 2))
        if look_seed(doc, click) is not None:
            clicks.append(click)
    return clicks


def test_the_pass_follows_a_click_as_a_decode_of_its_shot_does_and_stops_at_the_cut(
    tmp_path: Path,
) -> None:
    scene = Scene(cut_at_s=CUT_S)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False, scene=scene)
    info = probe(clip)
    params = DetectParams(backend="motion")
    bare = detect_pass(clip, info, MotionDetector(), params, PassPlan(0, info.frame_count))
    clicks = _clicks(bare, truth.boxes)[:3]
    assert clicks, "no generated player has a box under his click"

    doc = detect_pass(
        clip, info, MotionDetector(), params, PassPlan(0, info.frame_count, 8, clicks)
    )
    decoded = follow_clicks(clip, info, bare, clicks)

    assert [look.model_dump() for look in doc.looks_followed] == [
        look.model_dump() for look in decoded
    ]
    cut = round(CUT_S * info.fps)
    assert cut in doc.shots
    for look in doc.looks_followed:
        frames = [row[0] for row in look.boxes]
        assert len(frames) > 10 and max(frames) < cut  # his shot only


def _pass_with_looks(clip: Path, clicks: list[Click], end: int) -> tuple[LooksInPass, Detections]:
    """A motion pass over frames ``[0, end)`` following ``clicks`` by their look."""
    info = probe(clip)
    shots, detector = ShotCuts(float(info.fps)), MotionDetector()
    video = VideoFacts(width=W, height=H, fps=float(info.fps), frame_count=info.frame_count)

    def draft(found: dict[int, FrameDetections]) -> Detections:
        return assemble(
            found,
            video,
            backend=detector.name,
            classes=detector.classes,
            stride=1,
            ball_confidence=0.1,
            max_ball_gap=30,
            cuts=shots.cuts,
        )

    looks = LooksInPass(clicks, info, draft)
    found = detect_frames(
        clip, info, detector, end=end, tracker=tracking(), shots=shots, looks=looks
    )
    return looks, draft(found)


def test_the_pass_vouches_for_its_follow_only_when_it_saw_the_whole_span(tmp_path: Path) -> None:
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=2.0, audio=False)
    info = probe(clip)
    params = DetectParams(backend="motion")
    bare = detect_pass(clip, info, MotionDetector(), params, PassPlan(0, info.frame_count))
    clicks = _clicks(bare, truth.boxes)[:1]
    assert clicks
    decoded = follow_clicks(clip, info, bare, clicks)

    looks, doc = _pass_with_looks(clip, clicks, info.frame_count)
    followed = looks.result(0, doc)
    assert followed is not None
    np.testing.assert_allclose(followed[0], _boxes_of(decoded[0], info.frame_count), atol=0.051)

    short = info.frame_count - 10
    looks, doc = _pass_with_looks(clip, clicks, short)
    assert looks.result(0, doc) is None  # it did not see his whole shot: a decode follows
    again = follow_clicks(clip, info, doc, clicks, in_pass=looks)
    assert max(row[0] for row in again[0].boxes) >= short


def _boxes_of(look: FollowedLook, frames: int) -> np.ndarray:
    """A followed look's boxes as the (frames, 4) array the follow fills, rounded as stored."""
    out = np.full((frames, 4), np.nan)
    for f, *box in look.boxes:
        out[f] = box
    return out

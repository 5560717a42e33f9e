"""A deterministic sports-like sample clip: pitch, two teams, a ball, crowd audio.

Used by ``reelpipe process`` when no clip is given, by the tests (small sizes,
with known ground-truth boxes) and by the benchmarks (1080p). The same
arguments always give the same pixels and samples. A :class:`Scene` adds
what real footage has and the plain game lacks: a panning camera, a hard cut
to a second camera, a post in front of a player, two players crossing.

Example::

    truth = write_sample_clip(Path("game.mp4"), width=320, height=180, duration_s=2)
    truth.boxes[30, 0]        # player 0's [x, y, w, h] in frame 30
    write_sample_clip(path, scene=Scene(pan=0.1, cut_at_s=2.0))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.settings import EncodeProfile
from pipeline.media.frames import FrameWriter, YuvFrame, split_i420

AUDIO_RATE = 48_000
TEAM_COLOURS = ((40, 40, 215), (200, 90, 30))  # BGR: red, blue
PLAYERS_PER_TEAM = 5


@dataclass(frozen=True)
class Scene:
    """What the camera and the players do beyond the plain game (a still camera)."""

    pan: float = 0.0  # the camera pans right by this fraction of the frame width a second
    cut_at_s: float | None = None  # from here, a second camera on the other side (mirrored)
    post: bool = False  # player 0 walks across the pitch, behind a post that hides him
    crossing: bool = False  # players 0 (red) and 5 (blue) walk across each other's path

    def view_x(self, frame: int, fps: int, width: int) -> int:
        """Where the camera's view starts in the (wider) panned pitch, in pixels."""
        return round(self.pan * width * frame / fps)


@dataclass(frozen=True)
class SampleTruth:
    """Where everything was drawn.

    ``boxes[frame, player] = [x, y, w, h]`` (feet at the bottom centre), ``ball[frame] = [x, y]``.
    """

    width: int
    height: int
    fps: int
    frames: int
    boxes: np.ndarray
    ball: np.ndarray
    has_audio: bool

    def keyframes(self, player: int, every: int = 10) -> list[list[float]]:
        """Highlight keyframes ``[frame, x, y, w, h]`` for one player, every N frames."""
        rows: list[list[float]] = []
        for frame in [*range(0, self.frames, every), self.frames - 1]:
            x, y, w, h = (round(float(v), 1) for v in self.boxes[frame, player])
            if not rows or rows[-1][0] != frame:
                rows.append([frame, x, y, w, h])
        return rows


def _stands(img: np.ndarray, seed: int) -> None:
    """A crowd and advertising boards along the top, and worn patches in the grass: the
    texture a real pitch has (and a panning camera can be followed by)."""
    rng = np.random.default_rng(seed + 2)
    height, width = img.shape[:2]
    band = max(4, height // 12)
    crowd = rng.integers(30, 230, (band // 2 + 1, width // 2 + 1, 3), dtype=np.uint8)
    img[:band] = cv2.resize(crowd, (width, band), interpolation=cv2.INTER_NEAREST)
    x = 0
    while x < width:
        w = int(rng.uniform(0.16, 0.4) * height)
        colour = tuple(int(c) for c in rng.integers(40, 255, 3))
        img[band : band + max(2, height // 30), x : x + w] = colour
        x += w
    for _ in range(width * height // 900):
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(band * 1.5, height))
        shade = tuple(int(c) for c in rng.integers(35, 90, 3))
        cv2.circle(img, (cx, cy), max(1, height // 200), shade, -1)


def _pitch(width: int, height: int) -> np.ndarray:
    img = np.empty((height, width, 3), np.uint8)
    stripe = max(1, width // 12)
    for i in range(0, width, stripe):
        img[:, i : i + stripe] = (60, 150, 50) if (i // stripe) % 2 == 0 else (50, 135, 45)
    line = max(1, height // 180)
    m = max(2, height // 20)
    white = (235, 235, 235)
    cv2.rectangle(img, (m, m), (width - m, height - m), white, line)
    cv2.line(img, (width // 2, m), (width // 2, height - m), white, line)
    cv2.circle(img, (width // 2, height // 2), height // 6, white, line)
    box_w, box_h = width // 8, height // 2
    cv2.rectangle(img, (m, (height - box_h) // 2), (m + box_w, (height + box_h) // 2), white, line)
    cv2.rectangle(
        img,
        (width - m - box_w, (height - box_h) // 2),
        (width - m, (height + box_h) // 2),
        white,
        line,
    )
    return img


def _trajectories(
    width: int, height: int, fps: int, frames: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 2 * PLAYERS_PER_TEAM
    t = np.arange(frames) / fps
    ph, pw = 0.16 * height, 0.06 * height
    cx = rng.uniform(0.15, 0.85, n) * width
    cy = rng.uniform(0.3, 0.8, n) * height
    # Player 0 is the sample's star: he stays near the middle so a 9:16 crop keeps him.
    cx[0], cy[0] = 0.5 * width, 0.55 * height
    ax = rng.uniform(0.04, 0.12, n) * width
    ay = rng.uniform(0.03, 0.1, n) * height
    ax[0] = 0.06 * width
    wx, wy = rng.uniform(0.3, 0.9, n), rng.uniform(0.3, 0.9, n)
    px, py = rng.uniform(0, 2 * math.pi, n), rng.uniform(0, 2 * math.pi, n)
    feet_x = cx + ax * np.sin(np.outer(t, wx) + px)
    feet_y = cy + ay * np.sin(np.outer(t, wy) + py)
    boxes = np.stack(
        [feet_x - pw / 2, feet_y - ph, np.full_like(feet_x, pw), np.full_like(feet_y, ph)], axis=-1
    )
    # The ball is passed from player to player every second, rolling between feet.
    order = rng.permutation(n)
    ball = np.empty((frames, 2))
    for f in range(frames):
        leg = f // fps
        a, b = order[leg % n], order[(leg + 1) % n]
        s = (f % fps) / fps
        s = s * s * (3 - 2 * s)
        ball[f] = (1 - s) * np.array([feet_x[f, a], feet_y[f, a]]) + s * np.array(
            [feet_x[f, b], feet_y[f, b]]
        )
    return boxes, ball


POST_X = 0.45  # of the width: where the post stands, on player 0's walk


def _walks(boxes: np.ndarray, width: int, height: int, players: tuple[int, ...]) -> None:
    """Player 0 walks straight across (left to right), player 5 the other way, a step
    nearer the camera, so that they cross mid-clip."""
    frames = len(boxes)
    s = np.linspace(0, 1, frames)
    paths = {0: (0.3, 0.7, 0.55), 5: (0.7, 0.3, 0.58)}
    for player, (a, b, y) in ((p, paths[p]) for p in players):
        w, h = boxes[0, player, 2:]
        boxes[:, player, 0] = (a + (b - a) * s) * width - w / 2
        boxes[:, player, 1] = y * height - h


def _post(canvas: np.ndarray, x: float, pw: float) -> None:
    """A post in front of the players, twice a player's width ``pw``, centred on ``x``."""
    height = canvas.shape[0]
    half = pw
    cv2.rectangle(
        canvas,
        (int(x - half), int(0.2 * height)),
        (int(x + half), int(0.9 * height)),
        (190, 190, 200),
        -1,
    )


def _draw(canvas: np.ndarray, boxes: np.ndarray, ball: np.ndarray, frame: int, fps: int) -> None:
    height = canvas.shape[0]
    for player, (x, y, w, h) in enumerate(boxes):
        colour = TEAM_COLOURS[player // PLAYERS_PER_TEAM]
        cxi = int(x + w / 2)
        stride = int(w * 0.35 * math.sin(2 * math.pi * (frame / fps * 2.2 + player / 7)))
        leg_top = int(y + h * 0.62)
        thick = max(1, int(w * 0.18))
        cv2.line(canvas, (cxi, leg_top), (cxi - stride, int(y + h)), (30, 30, 30), thick)
        cv2.line(canvas, (cxi, leg_top), (cxi + stride, int(y + h)), (30, 30, 30), thick)
        cv2.ellipse(
            canvas,
            (cxi, int(y + h * 0.42)),
            (max(1, int(w / 2)), max(1, int(h * 0.24))),
            0,
            0,
            360,
            colour,
            -1,
        )
        cv2.circle(canvas, (cxi, int(y + h * 0.12)), max(1, int(w * 0.3)), (150, 180, 225), -1)
    radius = max(2, height // 90)
    bx, by = int(ball[0]), int(ball[1])
    cv2.circle(canvas, (bx, by), radius, (250, 250, 250), -1, cv2.LINE_AA)
    cv2.circle(canvas, (bx, by), radius, (20, 20, 20), max(1, radius // 3), cv2.LINE_AA)


def _crowd_audio(duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    n = round(duration_s * AUDIO_RATE)
    noise = rng.standard_normal(n)
    kernel = np.ones(24) / 24  # a soft low-pass: crowd murmur, not hiss
    murmur = np.convolve(noise, kernel, mode="same") * 0.6
    t = np.arange(n) / AUDIO_RATE
    swell = 0.7 + 0.3 * np.sin(2 * math.pi * 0.15 * t)
    audio = murmur * swell
    for start in np.arange(0.5, duration_s, 4.0):  # a referee's whistle every 4 s
        mask = (t >= start) & (t < start + 0.35)
        audio[mask] += (
            0.35 * np.sin(2 * math.pi * 2800 * t[mask]) * np.sin(2 * math.pi * 30 * t[mask])
        )
    result: np.ndarray = np.clip(audio, -1, 1).astype(np.float32)
    return result


def write_sample_clip(
    path: Path,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    duration_s: float = 8.0,
    audio: bool = True,
    seed: int = 7,
    profile: EncodeProfile | None = None,
    scene: Scene | None = None,
) -> SampleTruth:
    """Write the sample clip to ``path`` (H.264 + AAC MP4) and return its ground truth
    (boxes in the view's pixels: after a cut, as the second camera sees them)."""
    frames = round(duration_s * fps)
    boxes, ball = _trajectories(width, height, fps, frames, seed)
    scene = scene or Scene()
    if scene.post or scene.crossing:
        _walks(boxes, width, height, (0, 5) if scene.crossing else (0,))
    pitch = _pitch(width + scene.view_x(frames, fps, width), height)
    if scene != Scene():
        _stands(pitch, seed)
    cut = frames if scene.cut_at_s is None else round(scene.cut_at_s * fps)
    post_x = POST_X * width  # on the pitch, on player 0's walk
    drawn = boxes.copy()
    drawn_ball = ball.copy()
    drawn[cut:, :, 0] = width - boxes[cut:, :, 0] - boxes[cut:, :, 2]  # the other side
    drawn_ball[cut:, 0] = width - ball[cut:, 0]
    profile = profile or EncodeProfile(preset="veryfast", crf=18)
    samples = _crowd_audio(frames / fps, seed) if audio else None
    chunk = AUDIO_RATE // fps
    with FrameWriter(
        path,
        width,
        height,
        Fraction(fps),
        profile,
        audio_sample_rate=AUDIO_RATE if audio else None,
    ) as writer:
        for f in range(frames):
            x0 = scene.view_x(f, fps, width)
            canvas = pitch[:, x0 : x0 + width].copy()
            if f >= cut:  # the second camera: mirrored, and its grass darker
                canvas = (canvas[:, ::-1] * 0.75).astype(np.uint8)
            _draw(canvas, drawn[f], drawn_ball[f], f, fps)
            if scene.post:  # it stands on the pitch: a panning camera passes it
                at = post_x - x0
                _post(canvas, at if f < cut else width - at, boxes[0, 0, 2])
            i420 = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420)
            writer.write(YuvFrame.from_planes(f, *split_i420(i420, width, height)))
            if samples is not None:
                writer.write_audio(samples[f * chunk : (f + 1) * chunk])
    return SampleTruth(width, height, fps, frames, drawn, drawn_ball, audio)

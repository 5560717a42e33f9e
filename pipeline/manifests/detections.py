"""``detect/detections.json``: what the detect stage found, frame by frame.

Compact by design (a 10-minute clip has ~18,000 frames): one row per box as a
plain array whose meaning ``columns`` names once, never an object per box.

    {"schema_version": 1, "backend": "yolo", "stride": 2,
     "video": {"width": 1920, "height": 1080, "fps": 30.0, "frame_count": 300},
     "classes": ["player", "ball"],
     "columns": ["class", "confidence", "track_id", "x1", "y1", "x2", "y2", "interpolated"],
     "frames": [[[0, 0.91, 7, 600.0, 300.0, 680.0, 500.0, 0], ...], ...],
     "ball": [[960.5, 540.2, 0], null, [962.0, 541.0, 1], ...],
     "action": [[955.0, 560.0], ...],
     "shots": [112, 240],
     "appearance": [["AAQNAg...", ""], ...]}

``frames[i]``, ``ball[i]`` and ``action[i]`` describe frame ``i`` (upright
source pixels). ``track_id`` is -1 for untracked boxes; ``interpolated`` is 1
for boxes and ball positions filled in between detected frames. ``shots``
lists the frames that begin a new camera shot (hard cuts): no track, ball or
action position is interpolated across one, and no track id spans one.
``appearance[i][k]`` describes the colours of ``frames[i][k]`` (a base64
histogram, see :mod:`pipeline.detect.appearance`; ``""`` for a filled-in box);
an empty list when the detector described none. ``looks_followed`` holds, for
each click the job names, where that player was found by his look
(:mod:`pipeline.follow.look`), which the follow uses where the
detector has no box of him.
"""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from pipeline.core.boxes import Box, Boxes, Keyframe
from pipeline.manifests.base import WireModel

COLUMNS = ("class", "confidence", "track_id", "x1", "y1", "x2", "y2", "interpolated")
CLASS, CONF, TRACK, X1, Y1, X2, Y2, INTERP = range(len(COLUMNS))

Row = tuple[int, float, int, float, float, float, float, int]
APPEARANCE_BINS = 32  # bytes in one box's colour histogram


def encode_look(hist: np.ndarray) -> str:
    """A normalised histogram as ``APPEARANCE_BINS`` bytes in base64 (``""``: undescribed)."""
    if not hist.any():
        return ""
    return base64.b64encode(np.round(hist * 255).astype(np.uint8).tobytes()).decode("ascii")


def decode_look(text: str) -> np.ndarray:
    """The normalised histogram from :func:`encode_look` (all zeros for ``""``)."""
    if not text:
        return np.zeros(APPEARANCE_BINS)
    raw = np.frombuffer(base64.b64decode(text), dtype=np.uint8).astype(np.float64)
    if raw.shape != (APPEARANCE_BINS,):
        raise ValueError(f"an appearance holds {APPEARANCE_BINS} bytes, got {raw.size}")
    total = raw.sum()
    return raw / total if total > 0 else raw


class VideoFacts(WireModel):
    """The clip the detections describe."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    frame_count: int = Field(gt=0)


class FollowedLook(WireModel):
    """A clicked player followed by his look (a template of his pixels) in the detect pass."""

    frame: int = Field(ge=0, description="the click's frame")
    x: float
    y: float
    boxes: list[Keyframe] = Field(description="[frame, x, y, w, h] where he was found")
    appearance: list[str] = Field(description="each box's colour histogram (base64)")

    @model_validator(mode="after")
    def _one_look_per_box(self) -> FollowedLook:
        if len(self.appearance) != len(self.boxes):
            raise ValueError("a followed look needs one appearance per box")
        return self

    def clicked(self, frame: int, x: float, y: float) -> bool:
        """Whether this is the follow of the click at ``(frame, x, y)``."""
        return self.frame == frame and abs(self.x - x) < 0.5 and abs(self.y - y) < 0.5


class Detections(WireModel):
    """Every frame's boxes, the ball and the action centre."""

    schema_version: Literal[1] = 1
    backend: str
    stride: int = Field(1, ge=1)
    video: VideoFacts
    classes: list[str]
    columns: list[str] = Field(default_factory=lambda: list(COLUMNS))
    frames: list[list[Row]]
    ball: list[tuple[float, float, int] | None]
    action: list[tuple[float, float] | None]
    shots: list[int] = Field(
        default_factory=list, description="frames that begin a new shot (hard cuts)"
    )
    appearance: list[list[str]] = Field(
        default_factory=list, description="per frame, per box: its colour histogram (base64)"
    )
    looks_followed: list[FollowedLook] = Field(
        default_factory=list, description="clicked players followed by their look"
    )

    @model_validator(mode="after")
    def _one_entry_per_frame(self) -> Detections:
        n = self.video.frame_count
        if not len(self.frames) == len(self.ball) == len(self.action) == n:
            raise ValueError(
                f"frames, ball and action need {n} entries each, got "
                f"{len(self.frames)}, {len(self.ball)} and {len(self.action)}"
            )
        if self.appearance and (
            len(self.appearance) != n
            or any(len(a) != len(f) for a, f in zip(self.appearance, self.frames, strict=True))
        ):
            raise ValueError("appearance needs one entry per box of every frame")
        return self

    def rows(self, frame: int) -> np.ndarray:
        """Frame ``frame``'s boxes as an (N, 8) float array in ``COLUMNS`` order."""
        return np.asarray(self.frames[frame], dtype=np.float64).reshape(-1, len(COLUMNS))

    def boxes(self, frame: int) -> Boxes:
        """Frame ``frame``'s boxes, with their colours (``looks``)."""
        return Boxes.from_rows(self.rows(frame), self.looks(frame))

    def looks(self, frame: int) -> np.ndarray:
        """Frame ``frame``'s boxes' colour histograms, (N, BINS) (zero rows: undescribed)."""
        rows = self.appearance[frame] if self.appearance else [""] * len(self.frames[frame])
        return np.asarray([decode_look(a) for a in rows]).reshape(-1, APPEARANCE_BINS)

    def shot_of(self, frame: int) -> tuple[int, int]:
        """The ``[start, end)`` frames of the shot that holds ``frame``."""
        start = max([0, *(c for c in self.shots if c <= frame)])
        end = min([self.video.frame_count, *(c for c in self.shots if c > frame)])
        return start, end

    def track_ids(self) -> list[int]:
        """Every track id that appears."""
        return sorted({int(r[TRACK]) for rows in self.frames for r in rows if r[TRACK] >= 0})

    def track_boxes(self, track_id: int) -> dict[int, Box]:
        """``{frame: box}`` of one track, where it was seen or filled in."""
        found: dict[int, Box] = {}
        for i, rows in enumerate(self.frames):
            for r in rows:
                if r[TRACK] == track_id:
                    found[i] = Box.corners(r[X1], r[Y1], r[X2], r[Y2])
                    break
        return found

    def ball_array(self) -> np.ndarray:
        """(frame_count, 2) ball centres, NaN where unknown."""
        out = np.full((self.video.frame_count, 2), np.nan)
        for i, b in enumerate(self.ball):
            if b is not None:
                out[i] = b[:2]
        return out

    def action_array(self) -> np.ndarray:
        """(frame_count, 2) action centres, NaN where unknown."""
        out = np.full((self.video.frame_count, 2), np.nan)
        for i, a in enumerate(self.action):
            if a is not None:
                out[i] = a
        return out

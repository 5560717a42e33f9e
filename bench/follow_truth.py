"""Hand-made ground truth of a clicked person on real footage: one JSON file a clip.

Generated scenes know every position exactly but move like no real game: bodies
of one colour on flat grass, no occluder of their own shape, no hand-held
camera. So a few real clips (shipped inside packages: the footage itself is
not in this repository) were annotated by looking at their frames: the clicked
person's box on every 5th frame (plus the first and last frame of his shot),
whether he is ``visible``, ``occluded`` (in the picture but mostly hidden
behind something or someone: the box is where he is) or ``absent`` (out of the
picture, or another shot), and the frames where a camera shot begins.

A file speaks for the frames of its ``span``. Inside it, a frame takes the
state and box of its shot's nearest mark (boxes interpolated between two
marks); a shot without any mark is one he is absent from. Frames outside the
span are not scored.

Example::

    truth = load_truth(DATA / "bikes.json")
    clip = truth.source.locate()           # None: the package is not installed
    states, boxes = truth.per_frame()
"""

from __future__ import annotations

import bisect
import importlib.util
from enum import StrEnum
from pathlib import Path
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA = Path(__file__).parent / "data"


class State(StrEnum):
    """Where the clicked person is on an annotated frame."""

    VISIBLE = "visible"
    OCCLUDED = "occluded"
    ABSENT = "absent"


# Per-frame codes, as numpy holds them.
UNSCORED, VISIBLE, OCCLUDED, ABSENT = -1, 0, 1, 2
_CODE = {State.VISIBLE: VISIBLE, State.OCCLUDED: OCCLUDED, State.ABSENT: ABSENT}


class Source(BaseModel):
    """Where a package installs the clip: a Python package's directory, or a Debian
    package's file under the root."""

    model_config = ConfigDict(extra="forbid")

    python_package: str | None = None
    debian_package: str | None = None
    path: str

    @model_validator(mode="after")
    def _one_package(self) -> Self:
        if (self.python_package is None) == (self.debian_package is None):
            raise ValueError("a source names exactly one of python_package, debian_package")
        if Path(self.path).is_absolute() or ".." in Path(self.path).parts:
            raise ValueError(f"source.path {self.path!r}: relative to the package, inside it")
        return self

    def package(self) -> str:
        """How to install the clip, for a message saying it is missing."""
        if self.python_package is not None:
            return f"the Python package {self.python_package}"
        return f"the Debian package {self.debian_package}"

    def locate(self) -> Path | None:
        """The clip where its package installs it; None when it is not installed."""
        if self.python_package is not None:
            spec = importlib.util.find_spec(self.python_package)
            if spec is None or not spec.submodule_search_locations:
                return None
            path = Path(next(iter(spec.submodule_search_locations))) / self.path
        else:
            path = Path("/") / self.path
        return path if path.is_file() else None


class Click(BaseModel):
    """Where the user clicks the person (a frame where he is visible)."""

    model_config = ConfigDict(extra="forbid")

    frame: int
    x: float
    y: float


class Mark(BaseModel):
    """One annotated frame: the person's state and, unless absent, his box
    ``[x, y, w, h]`` in source pixels."""

    model_config = ConfigDict(extra="forbid")

    frame: int
    state: State
    box: tuple[float, float, float, float] | None = None

    @model_validator(mode="after")
    def _box_unless_absent(self) -> Self:
        if (self.box is None) != (self.state is State.ABSENT):
            raise ValueError(f"frame {self.frame}: a box exactly when the person is not absent")
        if self.box is not None and (self.box[2] <= 0 or self.box[3] <= 0):
            raise ValueError(f"frame {self.frame}: box {self.box} has no area")
        return self


class Truth(BaseModel):
    """One clip's ground truth (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(1, ge=1, le=1)
    clip: str
    source: Source
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    frame_count: int = Field(gt=0)
    person: str
    what_happens: str
    box: str  # what the box holds: the rule the annotation followed
    cuts: list[int]
    span: tuple[int, int]
    click: Click
    marks: list[Mark]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        n = self.frame_count
        first, last = self.span
        if not 0 <= first <= last < n:
            raise ValueError(f"span {self.span}: outside the clip's {n} frames")
        if self.cuts != sorted(set(self.cuts)) or any(not 0 < c < n for c in self.cuts):
            raise ValueError(f"cuts {self.cuts}: increasing frames inside the clip")
        frames = [m.frame for m in self.marks]
        if frames != sorted(set(frames)):
            raise ValueError("marks: one a frame, in order")
        for m in self.marks:
            if not first <= m.frame <= last:
                raise ValueError(f"mark on frame {m.frame}: outside the span {self.span}")
            if m.box is not None:
                x, y, w, h = m.box
                if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
                    raise ValueError(f"frame {m.frame}: box {m.box} leaves the frame")
        clicked = self.mark_at(self.click.frame)
        if clicked is None or clicked.state is not State.VISIBLE or clicked.box is None:
            raise ValueError(f"click on frame {self.click.frame}: not a frame marked visible")
        x, y, w, h = clicked.box
        if not (x <= self.click.x <= x + w and y <= self.click.y <= y + h):
            raise ValueError(f"click ({self.click.x}, {self.click.y}): not on the person")
        return self

    def mark_at(self, frame: int) -> Mark | None:
        """The mark of ``frame``, if it was annotated."""
        return next((m for m in self.marks if m.frame == frame), None)

    def shot_of(self, frame: int) -> int:
        """How many cuts come at or before ``frame``."""
        return bisect.bisect_right(self.cuts, frame)

    def per_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """Per frame: the state code (``UNSCORED`` outside the span) and the box
        ``[x, y, w, h]`` (NaN where absent or unscored)."""
        n = self.frame_count
        states = np.full(n, UNSCORED, dtype=np.int64)
        boxes = np.full((n, 4), np.nan)
        first, last = self.span
        for f in range(first, last + 1):
            shot = self.shot_of(f)
            same = [m for m in self.marks if self.shot_of(m.frame) == shot]
            if not same:
                states[f] = ABSENT
                continue
            nearest = min(same, key=lambda m: (abs(m.frame - f), m.frame))
            states[f] = _CODE[nearest.state]
            if nearest.box is not None:
                boxes[f] = self._box_between(same, f)
        return states, boxes

    @staticmethod
    def _box_between(marks: list[Mark], frame: int) -> np.ndarray:
        """The box at ``frame``, linear between the boxed marks of its shot around it."""
        boxed = [m for m in marks if m.box is not None]
        at = np.array([m.frame for m in boxed], dtype=np.float64)
        values = np.array([m.box for m in boxed], dtype=np.float64)
        return np.array([np.interp(frame, at, values[:, k]) for k in range(4)])


def load_truth(path: Path) -> Truth:
    """One ground-truth file, validated (a ValueError says what is wrong)."""
    return Truth.model_validate_json(path.read_text())


def truth_files(folder: Path = DATA) -> list[Path]:
    """The ground-truth files, by name."""
    return sorted(folder.glob("*.json"))

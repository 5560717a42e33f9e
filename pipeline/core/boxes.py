"""Boxes in pixels: one ``Box``, and ``Boxes``, a frame's boxes column by column.

``Boxes`` is shaped like supervision's ``Detections``: named columns of equal
length (corners, class, confidence, track id, filled-in, colours), indexed
with a boolean mask or indices to give the boxes that pass, and one ``Box``
out of it by position. The follow code reads columns by name
(``boxes.x1``, ``boxes.tracker_id``), never a column number.

Example::

    boxes = Boxes.from_rows(doc.rows(30))        # (N, 8) detection rows
    players = boxes[boxes.class_id == PLAYER]
    nearest = players.box(int(np.argmin(players.distance_to(x, y))))
    nearest.centre, nearest.inside(1920, 1080)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ROW_WIDTH = 8  # class, confidence, track_id, x1, y1, x2, y2, interpolated

Keyframe = tuple[int, float, float, float, float]  # [frame, x, y, w, h]: a box on a frame


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: its top-left corner ``(x, y)``, width and height."""

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def corners(cls, x1: float, y1: float, x2: float, y2: float) -> Box:
        """The box from its top-left and bottom-right corners."""
        return cls(float(x1), float(y1), float(x2 - x1), float(y2 - y1))

    @classmethod
    def of(cls, values: object) -> Box:
        """The box from any ``[x, y, w, h]`` sequence or array."""
        x, y, w, h = (float(v) for v in values)  # type: ignore[attr-defined]
        return cls(x, y, w, h)

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h

    def contains(self, x: float, y: float) -> bool:
        """Whether the point ``(x, y)`` is on the box (its edges included)."""
        return self.x <= x <= self.x2 and self.y <= y <= self.y2

    def clamp_point(self, x: float, y: float) -> tuple[float, float]:
        """The point of the box nearest to ``(x, y)``."""
        return min(max(x, self.x), self.x2), min(max(y, self.y), self.y2)

    def centred_at(self, x: float, y: float) -> Box:
        """The same size, its centre at ``(x, y)``."""
        return Box(x - self.w / 2, y - self.h / 2, self.w, self.h)

    def inside(self, width: float, height: float) -> Box | None:
        """This box cut to a ``width`` x ``height`` frame; None when none of it is in it."""
        x1, y1 = min(max(self.x, 0.0), width), min(max(self.y, 0.0), height)
        x2, y2 = min(max(self.x2, 0.0), width), min(max(self.y2, 0.0), height)
        if x2 <= x1 or y2 <= y1:
            return None
        return Box(x1, y1, x2 - x1, y2 - y1)


def _column(values: npt.ArrayLike | None, n: int, fill: float, dtype: type) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=dtype)
    return np.asarray(values, dtype=dtype).reshape(n)


class Boxes:
    """A frame's boxes, column by column; ``looks`` holds each box's colour histogram
    (``(N, bins)``, zero rows where undescribed; ``(N, 0)`` when none was described).
    A column not given gets its neutral value (class 0, confidence 1, untracked: -1,
    detected: not interpolated)."""

    __slots__ = ("class_id", "confidence", "interpolated", "looks", "tracker_id", "xyxy")

    def __init__(
        self,
        xyxy: npt.ArrayLike,
        *,
        class_id: npt.ArrayLike | None = None,
        confidence: npt.ArrayLike | None = None,
        tracker_id: npt.ArrayLike | None = None,
        interpolated: npt.ArrayLike | None = None,
        looks: npt.ArrayLike | None = None,
    ) -> None:
        self.xyxy: np.ndarray = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        n = len(self.xyxy)
        self.class_id = _column(class_id, n, 0, np.int64)
        self.confidence = _column(confidence, n, 1.0, np.float64)
        self.tracker_id = _column(tracker_id, n, -1, np.int64)
        self.interpolated = _column(interpolated, n, 0, np.bool_)
        described = np.zeros((n, 0)) if looks is None else np.asarray(looks, np.float64)
        if described.ndim != 2:
            described = described.reshape(n, -1) if n else np.zeros((0, 0))
        if len(described) != n:
            raise ValueError(f"{n} boxes need {n} looks, got {len(described)}")
        self.looks: np.ndarray = described

    @classmethod
    def from_rows(cls, rows: np.ndarray, looks: np.ndarray | None = None) -> Boxes:
        """Boxes from detection rows ``(N, 8)``: class, confidence, track id, x1, y1, x2,
        y2, interpolated (the detections file's columns)."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, ROW_WIDTH)
        return cls(
            xyxy=rows[:, 3:7],
            class_id=rows[:, 0],
            confidence=rows[:, 1],
            tracker_id=rows[:, 2],
            interpolated=rows[:, 7],
            looks=looks,
        )

    @classmethod
    def empty(cls, bins: int = 0) -> Boxes:
        return cls(xyxy=np.empty((0, 4)), looks=np.empty((0, bins)))

    @classmethod
    def concatenate(cls, parts: list[Boxes]) -> Boxes:
        """The boxes of ``parts`` one after another (their ``looks`` of one width)."""
        if not parts:
            return cls.empty()
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts]),
            interpolated=np.concatenate([p.interpolated for p in parts]),
            looks=np.concatenate([p.looks for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Boxes:
        """The boxes a boolean mask, a slice or indices select."""
        return Boxes(
            xyxy=self.xyxy[index],
            class_id=self.class_id[index],
            confidence=self.confidence[index],
            tracker_id=self.tracker_id[index],
            interpolated=self.interpolated[index],
            looks=self.looks[index],
        )

    def box(self, i: int) -> Box:
        """The ``i``-th box."""
        return Box.corners(*self.xyxy[i])

    def rows(self) -> np.ndarray:
        """The boxes as detection rows ``(N, 8)`` (see :meth:`from_rows`)."""
        return np.column_stack(
            [self.class_id, self.confidence, self.tracker_id, self.xyxy, self.interpolated]
        ).astype(np.float64)

    @property
    def x1(self) -> np.ndarray:
        return self.xyxy[:, 0]

    @property
    def y1(self) -> np.ndarray:
        return self.xyxy[:, 1]

    @property
    def x2(self) -> np.ndarray:
        return self.xyxy[:, 2]

    @property
    def y2(self) -> np.ndarray:
        return self.xyxy[:, 3]

    @property
    def widths(self) -> np.ndarray:
        widths: np.ndarray = self.x2 - self.x1
        return widths

    @property
    def heights(self) -> np.ndarray:
        heights: np.ndarray = self.y2 - self.y1
        return heights

    @property
    def areas(self) -> np.ndarray:
        areas: np.ndarray = self.widths * self.heights
        return areas

    @property
    def centres(self) -> np.ndarray:
        """``(N, 2)`` the boxes' centres."""
        return np.column_stack([(self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2])

    def contain(self, x: float, y: float) -> np.ndarray:
        """Per box: whether the point ``(x, y)`` is on it."""
        inside: np.ndarray = (self.x1 <= x) & (x <= self.x2) & (self.y1 <= y) & (y <= self.y2)
        return inside

    def distance_to(self, x: float, y: float) -> np.ndarray:
        """Per box: how far the point ``(x, y)`` is from it (0 on it)."""
        dx = np.maximum(0, np.maximum(self.x1 - x, x - self.x2))
        dy = np.maximum(0, np.maximum(self.y1 - y, y - self.y2))
        distance: np.ndarray = np.hypot(dx, dy)
        return distance

    def apart_from(self, box: Box) -> np.ndarray:
        """Per box: whether it does not overlap ``box`` at all."""
        apart: np.ndarray = (
            (self.x1 >= box.x2) | (self.x2 <= box.x) | (self.y1 >= box.y2) | (self.y2 <= box.y)
        )
        return apart

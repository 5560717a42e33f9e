"""People who stop moving stay found: a person-shaped box is held by its look.

A background model absorbs whoever stands still (that is its job: light
changes, a parked car), and a frame difference sees nothing move. A player
waiting for a pass, a cyclist at a red light, are then gone from the
detections, and a click on them finds nothing. Each upright box the motion
backend finds is remembered with a template of its pixels; when no current
box covers it, the template is searched near its last place (moved with the
camera) and, while it still matches, the box is reported again. Small moving
fragments inside a held box (a head turning, an arm) are his parts: they are
folded into it and keep it alive. A held box that nothing moves in for
``hold_frames`` (a ghost of the background, a poster) is let go, and so is one
whose template no longer matches (he left), or that something much larger moving
covers (a bus passing in front: through a window, its motion would keep a
reflection alive).

Example::

    hold = StillHold()
    boxes, scores = hold.update(grey, boxes, scores, camera_step)
    hold.clear()   # at a cut
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.detect.camera_motion import IDENTITY


@dataclass(frozen=True)
class HoldConfig:
    """When a box is remembered, found again and let go."""

    hold_frames: int = 150  # detected frames a held box may go without any motion inside it
    min_match: float = 0.6  # normalised correlation of the template: below it, he is gone
    search: float = 0.25  # of the box's size: how far from its last place it is searched
    min_height: float = 0.08  # of the frame's height: smaller boxes are not remembered
    aspect: tuple[float, float] = (0.2, 0.6)  # width / height of one upright person (no group)
    same: float = 0.3  # IoU with a current box: it is that box (the template is refreshed)
    inside: float = 0.7  # of a fragment's area within a held box: one of its parts
    confirm: int = 3  # detected frames in a row a box is seen before it is held
    max_held: int = 12
    # What a held box reports: low, so it extends a track but never starts one.
    score: float = 0.2


@dataclass
class _Held:
    box: np.ndarray  # xyxy in the detector's pixels
    template: np.ndarray  # grey, at the box's size
    idle: int = 0  # detected frames since anything moved inside it
    seen: int = 1  # detected frames in a row a current box was this one


class StillHold:
    """The remembered upright boxes of one shot, in the detector's pixels."""

    def __init__(self, config: HoldConfig | None = None) -> None:
        self.config = config or HoldConfig()
        self._held: list[_Held] = []

    def clear(self) -> None:
        """Forget everything (a new shot)."""
        self._held = []

    def update(
        self,
        grey: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        camera: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """This frame's ``boxes`` (N, 4) xyxy and ``scores`` (N,) with the held boxes
        added where nothing covers them, and the fragments inside a held box folded into
        it. ``camera``: the 2x3 step from the previous frame to this one."""
        cfg = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        height = grey.shape[0]
        step = IDENTITY if camera is None else camera
        keep = np.ones(len(boxes), dtype=bool)
        taken = np.zeros(len(boxes), dtype=bool)  # already remembered as a held entry
        extra_boxes, extra_scores, held = [], [], []
        for entry in self._held:
            box = _moved(entry.box, step)
            iou = _iou(box, boxes)
            if len(boxes) and iou.max() >= cfg.same:
                same = int(np.argmax(iou))
                patch = _patch(grey, boxes[same]) if self._upright(boxes[same], height) else None
                if taken[same]:
                    continue  # another entry follows that box already
                if patch is not None:
                    taken[same] = True  # seen again: its box and template follow it
                    held.append(_Held(boxes[same].copy(), patch, 0, entry.seen + 1))
                    continue
                # only a part of him shows (his shirt, not his legs): the whole is kept
            if entry.seen < cfg.confirm:
                continue  # seen too briefly to be anyone (a flicker, a reflection)
            covered = _intersection(box, boxes) / max(_area(box[None])[0], 1e-9)
            if ((covered >= cfg.inside) & (_area(boxes) >= 2 * _area(box[None])[0])).any():
                continue  # something large passes in front: whatever is behind is hidden
            match = _search(grey, entry.template, box, cfg.search)
            if match is None or match[1] < cfg.min_match:
                continue
            box = match[0]
            parts = _inside(boxes, box) >= cfg.inside
            parts &= _area(boxes) < 0.5 * _area(box[None])[0]
            entry.idle = 0 if parts.any() else entry.idle + 1
            if entry.idle > cfg.hold_frames:
                continue
            keep &= ~parts
            entry.box = box
            held.append(entry)
            # (a held box matched again keeps its template: refreshing it from a
            # frame where he is hidden would teach it the occluder)
            extra_boxes.append(box)
            extra_scores.append(max([cfg.score, *scores[parts]]))
        out_boxes = np.vstack([boxes[keep], *[b[None] for b in extra_boxes]]).reshape(-1, 4)
        out_scores = np.concatenate([scores[keep], np.asarray(extra_scores)])
        for box in boxes[keep & ~taken]:
            if self._upright(box, height) and len(held) < cfg.max_held:
                patch = _patch(grey, box)
                if patch is not None:
                    held.append(_Held(box.copy(), patch))
        self._held = held
        return out_boxes, out_scores

    def _upright(self, box: np.ndarray, frame_height: int) -> bool:
        w, h = box[2] - box[0], box[3] - box[1]
        low, high = self.config.aspect
        return bool(h >= self.config.min_height * frame_height and low <= w / max(h, 1) <= high)


def _moved(box: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``box`` with its centre moved by the camera (its size scaled by the zoom)."""
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    zoom = float(np.sqrt(abs(np.linalg.det(step[:, :2]))))
    new = step[:, :2] @ centre + step[:, 2]
    half = np.array([box[2] - box[0], box[3] - box[1]]) * zoom / 2
    return np.concatenate([new - half, new + half])


def _patch(grey: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    height, width = grey.shape[:2]
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(width, round(box[2])), min(height, round(box[3]))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    return grey[y1:y2, x1:x2].copy()


def _search(
    grey: np.ndarray, template: np.ndarray, box: np.ndarray, reach: float
) -> tuple[np.ndarray, float] | None:
    """Where ``template`` matches best within ``reach`` of ``box``: the box there and the
    normalised correlation (None when the window falls outside the frame)."""
    height, width = grey.shape[:2]
    th, tw = template.shape
    dx, dy = max(2, int(reach * tw)), max(2, int(reach * th))
    x0, y0 = round(box[0]) - dx, round(box[1]) - dy
    ax, ay = max(0, x0), max(0, y0)
    bx, by = min(width, x0 + tw + 2 * dx), min(height, y0 + th + 2 * dy)
    if bx - ax < tw or by - ay < th:
        return None
    result = cv2.matchTemplate(grey[ay:by, ax:bx], template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (mx, my) = cv2.minMaxLoc(result)
    found = np.array([ax + mx, ay + my, ax + mx + tw, ay + my + th], dtype=np.float64)
    return found, float(best)


def _area(boxes: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(
        boxes[:, 3] - boxes[:, 1], 0
    )
    return result


def _intersection(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    w = np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0])
    h = np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1])
    result: np.ndarray = np.maximum(w, 0) * np.maximum(h, 0)
    return result


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    if not len(boxes):
        return np.zeros(0)
    inter = _intersection(box, boxes)
    result: np.ndarray = inter / np.maximum(_area(boxes) + _area(box[None]) - inter, 1e-9)
    return result


def _inside(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The share of each of ``boxes`` that lies within ``box``."""
    if not len(boxes):
        return np.zeros(0)
    result: np.ndarray = _intersection(box, boxes) / np.maximum(_area(boxes), 1e-9)
    return result

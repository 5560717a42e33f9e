"""Which detection is which track: costs, gates and the optimal assignment.

A pair (track, detection) may match in one of two ways:

- by overlap: the detection overlaps the track's predicted box (IoU at least
  ``min_iou``) and does not look like someone else (colour distance below
  ``reject_look``: when two players of different shirts cross, the overlap
  says little and the shirt says who is who);
- by look: its colours are close to the track's (``close_look``), it is near
  where the track was predicted (``reach`` heights, which grows the longer the
  track went unseen: a player hidden for a second may have moved further)
  and of a similar height. This is how a track lost behind an occluder, or
  inside a merged blob, is found again under the same id.

Allowed pairs cost a mix of ``1 - IoU`` and the colour distance; the rest are
forbidden. :func:`assign` solves the assignment with
``scipy.optimize.linear_sum_assignment`` (least total cost, each track and
detection used once), so a greedy first pick never steals the box another
track needed.

Example::

    cost = pair_costs(predicted_xyxy, track_looks, unseen_s, boxes, looks, Gates())
    matches, lone_tracks, lone_boxes = assign(cost)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORBIDDEN = 1e6  # the cost of a pair no gate allows
SKIP = 0.55  # leaving a track or a box unmatched: any allowed pair (cost <= 1) beats both


@dataclass(frozen=True)
class Gates:
    """When a detection may be a track, and what a match costs."""

    min_iou: float = 0.2  # overlap with the prediction that matches on position alone
    reject_look: float = 0.5  # colour distance beyond which it is someone else
    close_look: float = 0.25  # colour distance that matches without overlap
    reach: float = 1.0  # heights from the prediction a match by look may be...
    reach_per_s: float = 1.5  # ... plus this many per second unseen...
    max_reach: float = 4.0  # ... up to this many
    max_height_ratio: float = 2.0  # a match by look is at most this much taller or shorter
    look_weight: float = 0.5  # of the cost, when both have colours (the rest: 1 - IoU)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of xyxy boxes."""
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    result: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return result


def look_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) ``1 - Bhattacharyya`` of colour histograms (0: the same colours,
    1: none in common); NaN where either is undescribed (an all-zero row)."""
    if a.ndim != 2 or b.ndim != 2 or not a.shape[1] or a.shape[1] != b.shape[1]:
        return np.full((len(a), len(b)), np.nan)
    coefficient = np.sqrt(a) @ np.sqrt(b).T
    described = np.outer(a.any(axis=1), b.any(axis=1))
    result: np.ndarray = np.where(described, 1.0 - np.clip(coefficient, 0.0, 1.0), np.nan)
    return result


def pair_costs(
    predicted: np.ndarray,
    track_looks: np.ndarray,
    unseen_s: np.ndarray,
    boxes: np.ndarray,
    looks: np.ndarray,
    gates: Gates,
) -> np.ndarray:
    """(tracks, detections) costs, FORBIDDEN where no gate lets the pair match.

    ``predicted`` (T, 4) xyxy, ``track_looks`` (T, bins), ``unseen_s`` (T,) seconds since
    each track was last matched; ``boxes`` (D, 4) xyxy and ``looks`` (D, bins)."""
    iou = iou_matrix(predicted, boxes)
    look = look_distances(track_looks, looks)
    described = ~np.isnan(look)
    look = np.nan_to_num(look, nan=0.0)
    by_overlap = (iou >= gates.min_iou) & ~(described & (look > gates.reject_look))
    pred_h = np.maximum(predicted[:, 3] - predicted[:, 1], 1e-6)[:, None]
    box_h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)[None, :]
    centres = (predicted[:, None, :2] + predicted[:, None, 2:]) / 2
    targets = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2
    distance = np.hypot(*np.moveaxis(centres - targets, -1, 0)) / pred_h
    reach = np.minimum(gates.reach + gates.reach_per_s * unseen_s, gates.max_reach)[:, None]
    ratio = np.maximum(pred_h / box_h, box_h / pred_h)
    by_look = (
        described
        & (look <= gates.close_look)
        & (distance <= reach)
        & (ratio <= gates.max_height_ratio)
    )
    mixed = (1 - gates.look_weight) * (1 - iou) + gates.look_weight * look
    cost = np.where(described, mixed, 1 - iou)
    result: np.ndarray = np.where(by_overlap | by_look, cost, FORBIDDEN)
    return result


def overlap_costs(predicted: np.ndarray, boxes: np.ndarray, min_iou: float) -> np.ndarray:
    """``1 - IoU`` where the overlap is at least ``min_iou``, FORBIDDEN elsewhere (for
    boxes whose colours are not to be trusted: low scores, partial blobs)."""
    iou = iou_matrix(predicted, boxes)
    result: np.ndarray = np.where(iou >= min_iou, 1 - iou, FORBIDDEN)
    return result


def assign(
    cost: np.ndarray, skip: float = SKIP
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The least-cost matching of rows (tracks) to columns (detections) among allowed
    pairs, where leaving a row or a column unmatched costs ``skip``: the matched (row,
    column) pairs, the rows left and the columns left.

    Each side may stay unmatched (the matrix is extended with a "nobody" for every row
    and column, as ``lap``'s ``extend_cost`` does), so two mediocre matches never win over
    one good one just by being more."""
    rows, cols = cost.shape
    if not rows or not cols:
        return [], list(range(rows)), list(range(cols))
    extended = np.full((rows + cols, cols + rows), FORBIDDEN)
    extended[:rows, :cols] = cost
    extended[:rows, cols:][np.diag_indices(rows)] = skip
    extended[rows:, :cols][np.diag_indices(cols)] = skip
    extended[rows:, cols:] = 0.0
    # scipy loads in about 0.45 s: imported where used, so a job that never needs it does not pay
    from scipy.optimize import linear_sum_assignment

    chosen_rows, chosen_cols = linear_sum_assignment(extended)
    matches = [
        (int(r), int(c))
        for r, c in zip(chosen_rows, chosen_cols, strict=True)
        if r < rows and c < cols and cost[r, c] < FORBIDDEN
    ]
    matched_rows = {r for r, _ in matches}
    matched_cols = {c for _, c in matches}
    return (
        matches,
        [r for r in range(rows) if r not in matched_rows],
        [c for c in range(cols) if c not in matched_cols],
    )

"""Join the detections of parallel segments into one document with one set of track ids.

Each segment is detected with ``overlap`` frames of the previous segment before
its start, so both see the same players there. A track of the later segment
takes the id of the earlier track its boxes overlap most in those frames
(IoU above ``MATCH_IOU`` on at least a third of them, each id used once);
any other track gets a new id. Frames before a segment's start come from the
earlier segment.

Example::

    doc = stitch([first, second], starts=[0, 900])
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from pipeline.detect.association import iou_matrix
from pipeline.manifests.detections import TRACK, X1, X2, Y1, Y2, Detections, Row

MATCH_IOU = 0.5


def stitch(parts: list[Detections], starts: list[int]) -> Detections:
    """One document from per-segment documents (``starts[i]``: part i's first frame)."""
    joined = parts[0]
    for part, start in zip(parts[1:], starts[1:], strict=True):
        joined = _append(joined, part, start)
    return joined


def _append(done: Detections, part: Detections, start: int) -> Detections:
    overlap = [f for f in range(start) if part.frames[f] and done.frames[f]]
    votes: Counter[tuple[int, int]] = Counter()
    for f in overlap:
        for new, old in _matches(part.rows(f), done.rows(f)):
            votes[(new, old)] += 1
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    needed = max(1, len(overlap) // 3)
    for (new, old), count in votes.most_common():
        if count >= needed and new not in mapping and old not in taken:
            mapping[new] = old
            taken.add(old)
    next_id = max([*done.track_ids(), *taken, -1]) + 1
    for new in part.track_ids():
        if new not in mapping:
            mapping[new], next_id = next_id, next_id + 1
    later = [[_renumber(r, mapping) for r in rows] for rows in part.frames[start:]]
    frames = [*done.frames[:start], *later]
    return done.model_copy(
        update={
            "frames": frames,
            "ball": [*done.ball[:start], *part.ball[start:]],
            "action": [*done.action[:start], *part.action[start:]],
            "appearance": (
                [*done.appearance[:start], *part.appearance[start:]]
                if done.appearance and part.appearance
                else []
            ),
            "shots": [
                *(c for c in done.shots if c < start),
                *(c for c in part.shots if c >= start),
            ],
        }
    )


def _renumber(row: Row, mapping: dict[int, int]) -> Row:
    if row[TRACK] < 0:
        return row
    cls, conf, track, x1, y1, x2, y2, interpolated = row
    return (cls, conf, mapping[track], x1, y1, x2, y2, interpolated)


def _matches(new: np.ndarray, old: np.ndarray) -> list[tuple[int, int]]:
    """(new id, old id) pairs of tracked boxes overlapping above MATCH_IOU, best first."""
    new, old = new[new[:, TRACK] >= 0], old[old[:, TRACK] >= 0]
    if not len(new) or not len(old):
        return []
    iou = iou_matrix(new[:, [X1, Y1, X2, Y2]], old[:, [X1, Y1, X2, Y2]])
    pairs = []
    while iou.size and iou.max() > MATCH_IOU:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        pairs.append((int(new[i, TRACK]), int(old[j, TRACK])))
        iou[i, :], iou[:, j] = 0, 0
    return pairs

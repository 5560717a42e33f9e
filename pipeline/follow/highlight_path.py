"""From a followed player's per-frame boxes to what the overlay draws: a smooth path,
kept inside the frame, held (never guessed) while he is lost, and a strength that
fades out after a loss and back in once he is found again, never across a cut.

Why each step:

- the detector's boxes wobble by a few pixels a frame (a motion blob grows and
  shrinks with a stride); a ring that follows them jitters. A centred Gaussian
  over each unbroken run of frames (never across a loss or a cut) smooths the
  feet and the size without lagging behind him, since the whole path is known;
- a box partly outside the picture (a blob cut by the edge, a prediction that
  coasted out) is clamped to it: the status and the ring only name pixels
  that exist;
- while he is lost the box is held where he was last known, not drawn along a
  straight line towards where he is found again (that line crosses whatever hid
  him), and the light fades out; it fades in from where he is found, never
  before he is there.

Example::

    boxes = smoothed(boxes, cuts=[45], sigma=2.0)
    boxes = clamped(boxes, 640, 360)
    light = strength(present, 90, bridge=15, fade=12.0, cuts=[45])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from pipeline.core.boxes import Keyframe


def shots(n: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """The ``[start, end)`` frames of each camera shot of an ``n``-frame clip."""
    edges = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def runs(known: np.ndarray, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of consecutive ``known`` frames inside one shot."""
    out = []
    for a, b in shots(len(known), cuts):
        padded = np.concatenate([[False], known[a:b], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        out += [(a + int(s), a + int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
    return out


def smoothed(boxes: np.ndarray, cuts: Sequence[int], sigma: float) -> np.ndarray:
    """``boxes`` (n, 4) ``[x, y, w, h]`` (NaN: unknown) with the feet (bottom centre) and
    the size smoothed by a Gaussian of ``sigma`` frames within each run."""
    out = boxes.copy()
    if sigma <= 0:
        return out
    known = ~np.isnan(boxes).any(axis=1)
    for a, b in runs(known, cuts):
        if b - a < 3:
            continue
        x, y, w, h = boxes[a:b].T
        fx, fy, fw, fh = _gaussian(np.column_stack([x + w / 2, y + h, w, h]), sigma).T
        out[a:b] = np.column_stack([fx - fw / 2, fy - fh, fw, fh])
    return out


def _gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (n, k) smoothed along n; the ends are padded by point reflection, so a
    straight walk stays straight up to its first and last frame (no pull to the ends)."""
    pad = min(len(values) - 1, int(4 * sigma + 0.5))
    head = 2 * values[0] - values[pad:0:-1]
    tail = 2 * values[-1] - values[-2 : -pad - 2 : -1]
    padded = np.concatenate([head, values, tail])
    # scipy loads in about 0.45 s: imported where used, so a job that never needs it does not pay
    from scipy.ndimage import gaussian_filter1d

    smooth: np.ndarray = gaussian_filter1d(padded, sigma, axis=0, mode="nearest")
    return smooth[pad : pad + len(values)]


def clamped(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """``boxes`` (n, 4) cut to the ``width`` x ``height`` frame; NaN where none is left."""
    x1 = np.clip(boxes[:, 0], 0, width)
    y1 = np.clip(boxes[:, 1], 0, height)
    x2 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y2 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    out = np.column_stack([x1, y1, x2 - x1, y2 - y1])
    out[~((x2 > x1) & (y2 > y1))] = np.nan
    return out


def visible_share(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Per box of ``boxes`` (n, 4), the share of its area inside the ``width`` x ``height``
    frame (NaN boxes: 0)."""
    inside = clamped(boxes, width, height)
    area = boxes[:, 2] * boxes[:, 3]
    share: np.ndarray = np.nan_to_num(inside[:, 2] * inside[:, 3]) / np.where(
        area > 0, area, np.inf
    )
    return share


def at_edge(box: np.ndarray, width: float, height: float, margin: float) -> bool:
    """Whether ``box`` ``[x, y, w, h]`` reaches within ``margin`` pixels of a side of the
    frame (where a player walks out of the picture)."""
    x, y, w, h = box
    return bool(x <= margin or y <= margin or x + w >= width - margin or y + h >= height - margin)


def exits(boxes: np.ndarray, width: float, height: float, margin: float) -> list[int]:
    """The frames just after each run of known ``boxes`` (n, 4) whose last box reaches
    the frame's edge: where the player walked out of the picture, so the light ends
    there at once instead of fading on the empty edge."""
    known = ~np.isnan(boxes).any(axis=1)
    ends = np.flatnonzero(known[:-1] & ~known[1:])
    return [int(f) + 1 for f in ends if at_edge(boxes[f], width, height, margin)]


def held_keyframes(boxes: np.ndarray, bridge: int) -> list[Keyframe]:
    """Keyframes from the known rows of ``boxes`` (n, 4); across a gap longer than
    ``bridge`` frames the last box is held until the frame before he is found again
    (a shorter gap is interpolated: he is seen on both sides of it)."""
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    out: list[Keyframe] = []
    for i, f in enumerate(present):
        x, y, w, h = (float(v) for v in boxes[f])
        out.append((int(f), x, y, w, h))
        following = present[i + 1] if i + 1 < len(present) else None
        if following is not None and following - f - 1 > bridge:
            out.append((int(following) - 1, x, y, w, h))
    return out


def bridged(present: Sequence[int], n: int, bridge: int, cuts: Sequence[int] = ()) -> np.ndarray:
    """Per frame: he is ``present`` there, or in a gap of at most ``bridge`` frames between
    two such frames of one shot."""
    on = np.zeros(n, dtype=bool)
    on[np.asarray(present, dtype=np.int64)] = True
    for a, b in shots(n, cuts):
        hits = np.flatnonzero(on[a:b]) + a
        for p, q in itertools.pairwise(hits):
            if q - p - 1 <= bridge:
                on[p:q] = True
    return on


def strength(
    present: Sequence[int],
    n: int,
    bridge: int,
    fade: float,
    cuts: Sequence[int] = (),
    exits: Sequence[int] = (),
) -> np.ndarray:
    """Per frame, how strongly the highlight is drawn (0-1): full where he is present or
    in a gap of at most ``bridge`` frames, fading out over ``fade`` frames after he is
    lost and in over ``fade`` frames from where he is found again; 0 before he is first
    found in a shot. Nothing carries over a cut: a shot starting with him is full at once.
    At an ``exits`` frame (he walked out of the picture) the light is off at once."""
    on = bridged(present, n, bridge, cuts)
    step = 1.0 / max(fade, 1.0)
    gone = set(exits)
    out = np.zeros(n)
    for a, b in shots(n, cuts):
        level = 0.0
        for f in range(a, b):
            rise = 1.0 if f == a else min(1.0, level + step)  # a shot opening on him: full
            fall = 0.0 if f in gone else max(0.0, level - step)
            level = rise if on[f] else fall
            out[f] = level
    return out

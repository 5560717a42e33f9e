"""From detected frames to ``detections.json``: fill the frames in between.

Detection runs on every ``stride``-th frame. A track seen on two consecutive
detected frames is interpolated across the frames between them; the ball's
centre is interpolated across gaps up to ``max_ball_gap`` frames (longer gaps
stay unknown); the action centre likewise. Everything filled in is flagged
``interpolated``. Nothing is filled across a shot boundary (``cuts``), and a
track id seen in two shots becomes two tracks: whoever a tracker matched
across a hard cut is not known to be the same player.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools

import numpy as np

from pipeline.detect.contract import BALL, PLAYER, FrameDetections
from pipeline.manifests.detections import Detections, Row, VideoFacts, encode_look


def assemble(
    found: dict[int, FrameDetections],
    video: VideoFacts,
    *,
    backend: str,
    classes: tuple[str, ...],
    stride: int,
    ball_confidence: float,
    max_ball_gap: int,
    cuts: list[int] | None = None,
) -> Detections:
    """The detections document for a clip of ``video.frame_count`` frames."""
    n = video.frame_count
    cuts = sorted(cuts or [])
    found = _split_tracks_at_cuts(found, cuts)
    frames: list[list[Row]] = [[] for _ in range(n)]
    looks: list[list[str]] = [[] for _ in range(n)]
    for index, det in found.items():
        tracks = det.track_ids if len(det.track_ids) else np.full(len(det.scores), -1)
        for (x1, y1, x2, y2), cls, score, track in zip(
            det.xyxy, det.classes, det.scores, tracks, strict=True
        ):
            frames[index].append(_row(int(cls), float(score), int(track), (x1, y1, x2, y2), 0))
        if len(det.appearance):
            looks[index] = [encode_look(h) for h in det.appearance]
    _fill_tracks(frames, found, max_gap=max(2 * stride, round(video.fps / 2)), cuts=cuts)
    described = any(looks)
    for rows, row_looks in zip(frames, looks, strict=True):  # filled-in boxes: not described
        row_looks.extend([""] * (len(rows) - len(row_looks)))
    ball = _series(
        {i: c for i, det in found.items() if (c := _ball_centre(det, ball_confidence)) is not None},
        n,
        max_gap=max(max_ball_gap, stride),
        cuts=cuts,
    )
    action = _series(
        {i: det.action for i, det in found.items() if det.action is not None},
        n,
        max_gap=2 * stride,
        cuts=cuts,
    )
    return Detections(
        backend=backend,
        stride=stride,
        video=video,
        classes=list(classes),
        frames=frames,
        ball=[None if b is None else (b[0], b[1], b[2]) for b in ball],
        action=[None if a is None else (a[0], a[1]) for a in action],
        shots=cuts,
        appearance=looks if described else [],
    )


def _crosses_cut(a: int, b: int, cuts: list[int]) -> bool:
    """Whether a shot begins in ``(a, b]``: frames ``a`` and ``b`` are in different shots."""
    i = bisect.bisect_right(cuts, a)
    return i < len(cuts) and cuts[i] <= b


def _split_tracks_at_cuts(
    found: dict[int, FrameDetections], cuts: list[int]
) -> dict[int, FrameDetections]:
    """Track ids renumbered per shot: an id that reappears after a cut is a new track."""
    if not cuts:
        return found
    ids = [int(t) for det in found.values() for t in det.track_ids if t >= 0]
    if not ids:
        return found
    span = max(ids) + 1  # shot k's copy of id t is t + k * span
    out = {}
    for index, det in found.items():
        shot = bisect.bisect_right(cuts, index)
        if shot and len(det.track_ids):
            tracks = np.where(det.track_ids >= 0, det.track_ids + shot * span, det.track_ids)
            det = dataclasses.replace(det, track_ids=tracks)
        out[index] = det
    return out


def _row(cls: int, score: float, track: int, box: tuple[float, ...], interpolated: int) -> Row:
    x1, y1, x2, y2 = (round(float(v), 1) for v in box)
    return (cls, round(score, 3), track, x1, y1, x2, y2, interpolated)


def _fill_tracks(
    frames: list[list[Row]], found: dict[int, FrameDetections], max_gap: int, cuts: list[int]
) -> None:
    """Interpolate each track between its appearances up to ``max_gap`` frames apart
    (the frames skipped by the stride, and detections missed on a detected frame)."""
    seen: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    for index in sorted(found):
        det = found[index]
        for box, cls, score, track in zip(
            det.xyxy, det.classes, det.scores, det.track_ids, strict=False
        ):
            if track >= 0 and cls == PLAYER:
                seen.setdefault(int(track), []).append((index, box, float(score)))
    for track, appearances in seen.items():
        for (fa, a, sa), (fb, b, sb) in itertools.pairwise(appearances):
            if fb - fa <= 1 or fb - fa > max_gap or _crosses_cut(fa, fb, cuts):
                continue
            for f in range(fa + 1, fb):
                w = (f - fa) / (fb - fa)
                frames[f].append(_row(PLAYER, min(sa, sb), track, tuple(a * (1 - w) + b * w), 1))


def _ball_centre(det: FrameDetections, confidence: float) -> tuple[float, float] | None:
    balls = det.classes == BALL
    if not balls.any():
        return None
    scores = np.where(balls, det.scores, -1.0)
    best = int(np.argmax(scores))
    if scores[best] < confidence:
        return None
    x1, y1, x2, y2 = det.xyxy[best]
    return (float(x1 + x2) / 2, float(y1 + y2) / 2)


def _series(
    known: dict[int, tuple[float, float]], n: int, *, max_gap: int, cuts: list[int]
) -> list[tuple[float, float, int] | None]:
    """Per-frame positions: known ones, linear fills across gaps up to ``max_gap``."""
    out: list[tuple[float, float, int] | None] = [None] * n
    for i, (x, y) in known.items():
        out[i] = (round(x, 1), round(y, 1), 0)
    for a, b in itertools.pairwise(sorted(known)):
        if b - a <= 1 or b - a > max_gap or _crosses_cut(a, b, cuts):
            continue
        (xa, ya), (xb, yb) = known[a], known[b]
        for f in range(a + 1, b):
            w = (f - a) / (b - a)
            out[f] = (round(xa + (xb - xa) * w, 1), round(ya + (yb - ya) * w, 1), 1)
    return out

"""A clicked person on real footage, measured against a hand-made ground truth.

Each file of :mod:`bench.follow_truth` is clicked and followed as a job does
(:mod:`bench.follow_run`), then scored:

- on person: of the frames annotated ``visible``, the share where the light is
  on and its centre within 40 px of the annotated box's centre (at 640 px of
  width; scaled with the clip's width); in his box: where its centre is at
  least inside his box (the looser figure, for a close-up whose box fills the
  frame);
- false light: frames of the span lit while the person is absent (another
  shot, or out of the picture), as a count and a share of the lit frames;
  those of them in another shot than the click's are lit after a cut;
- on someone else: of his visible marks, those lit nearer another person
  annotated on the same clip (and within 40 px of him) than him: a swap the
  40 px figure may not show when two walk side by side;
- hidden: of the frames annotated ``occluded``, how many are lit near him
  (coasting on his path) and how many lit away from him (on the occluder);
- in 9:16: of the frames annotated ``visible``, the share where framing's 9:16
  window holds his box across (a person wider than the window counts when
  the window lies wholly on him);
- ID switches: how often the tracker's id on him changes, over the frames
  annotated ``visible`` where a tracked box overlaps his (IoU >= 0.3);
- follow / decode: the detect pass, the look follow, the overlay's pick and
  the framing path, against one decode of every frame of the clip.

Goals (the product's): >= 90% on person, 0 frames lit after a cut, <= 2% false
light, >= 95% in 9:16, follow <= 1.3x the decode.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.follow_run import FollowRun, decode_seconds, follow_click
from bench.follow_truth import ABSENT, OCCLUDED, VISIBLE, Truth
from pipeline.manifests.detections import INTERP, TRACK, X1, X2, Y1, Y2, Detections
from pipeline.manifests.job import Highlight

NEAR_PX = 40.0  # at 640 px of width
NEAR_WIDTH = 640.0
MATCH_IOU = 0.3
GOALS = {"on_person": 0.90, "after_cut": 0, "false_share": 0.02, "in_window": 0.95, "ratio": 1.3}


@dataclass(frozen=True)
class RealScore:
    """One annotated person's follow, scored (see the module docstring)."""

    visible: int  # frames annotated visible
    occluded: int
    absent: int  # frames of the span where he is absent (every frame, not only marks)
    on_person: float
    in_box: float
    lit: int  # lit frames of the span
    false_light: int
    after_cut: int
    on_other: int  # visible marks lit nearer another annotated person than him
    hidden_near: int
    hidden_away: int
    in_window: float
    tracked: float  # share of visible marks with a tracked box on him
    id_switches: int

    @property
    def false_share(self) -> float:
        """False light as a share of the lit frames (0 when nothing is lit)."""
        return self.false_light / self.lit if self.lit else 0.0


def near_px(width: int) -> float:
    """The on-person distance for a clip ``width`` pixels wide."""
    return NEAR_PX * width / NEAR_WIDTH


def score_follow(
    truth: Truth,
    strength: np.ndarray,
    centres: np.ndarray,
    window_x: np.ndarray,
    window_w: int,
    doc: Detections | None = None,
    others: Sequence[Truth] = (),
) -> RealScore:
    """``strength`` and ``centres`` (the light per frame), ``window_x`` (the 9:16
    window's left edge per frame, ``window_w`` wide) against ``truth``; ID switches
    from ``doc``'s tracks (0 without it); ``others``: the other people annotated on
    the same clip."""
    states, boxes = truth.per_frame()
    n = truth.frame_count
    lit = np.zeros(n, dtype=bool)
    lit[: min(n, len(strength))] = np.asarray(strength)[:n] > 0
    marked = np.zeros(n, dtype=bool)
    marked[[m.frame for m in truth.marks]] = True
    visible = marked & (states == VISIBLE)
    occluded = marked & (states == OCCLUDED)
    absent = states == ABSENT
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    with np.errstate(invalid="ignore"):
        distance = np.hypot(*(np.asarray(centres, dtype=np.float64)[:n] - centre).T)
    near = lit & (distance <= near_px(truth.width))
    false = lit & absent
    click_shot = truth.shot_of(truth.click.frame)
    other_shot = np.array([truth.shot_of(f) != click_shot for f in range(n)])
    scored = states >= VISIBLE
    tracked, switches = _tracked(doc, visible, boxes) if doc is not None else (float("nan"), 0)
    return RealScore(
        visible=int(visible.sum()),
        occluded=int(occluded.sum()),
        absent=int(absent.sum()),
        on_person=_share(near, visible),
        in_box=_share(lit & _holds(boxes, centres), visible),
        lit=int((lit & scored).sum()),
        false_light=int(false.sum()),
        after_cut=int((false & other_shot).sum()),
        on_other=int(
            (
                visible & lit & _nearer_other(distance, centres, others, n, near_px(truth.width))
            ).sum()
        ),
        hidden_near=int((occluded & near).sum()),
        hidden_away=int((occluded & lit & ~near).sum()),
        in_window=_share(_in_window(boxes, window_x, window_w), visible),
        tracked=tracked,
        id_switches=switches,
    )


def _nearer_other(
    distance: np.ndarray, centres: np.ndarray, others: Sequence[Truth], n: int, reach: float
) -> np.ndarray:
    """Per frame: the light is within ``reach`` of another annotated person in view
    there, and nearer him than ``distance`` (its distance to the clicked one)."""
    nearer = np.zeros(n, dtype=bool)
    light = np.asarray(centres, dtype=np.float64)[:n]
    for other in others:
        states, boxes = other.per_frame()
        centre = boxes[:n, :2] + boxes[:n, 2:] / 2
        with np.errstate(invalid="ignore"):
            gap = np.hypot(*(light - centre).T)
            nearer |= (states[:n] == VISIBLE) & (gap <= reach) & (gap < distance)
    return nearer


def _share(hits: np.ndarray, over: np.ndarray) -> float:
    return float(hits[over].mean()) if over.any() else float("nan")


def _holds(boxes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per frame: the point ``centres`` lies inside the box."""
    x, y = np.asarray(centres, dtype=np.float64)[: len(boxes)].T
    with np.errstate(invalid="ignore"):
        inside: np.ndarray = (
            (x >= boxes[:, 0])
            & (x <= boxes[:, 0] + boxes[:, 2])
            & (y >= boxes[:, 1])
            & (y <= boxes[:, 1] + boxes[:, 3])
        )
    return inside


def _in_window(boxes: np.ndarray, window_x: np.ndarray, window_w: int) -> np.ndarray:
    """Per frame: the window holds the box across, or (a person wider than the
    window) lies wholly on him."""
    x, w = boxes[:, 0], boxes[:, 2]
    left = np.asarray(window_x, dtype=np.float64)[: len(boxes)]
    with np.errstate(invalid="ignore"):
        holds = (x >= left) & (x + w <= left + window_w)
        on_him = (w > window_w) & (left >= x) & (left + window_w <= x + w)
    inside: np.ndarray = holds | on_him
    return inside


def _iou(rows: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = box
    ix = np.clip(np.minimum(rows[:, X2], x + w) - np.maximum(rows[:, X1], x), 0, None)
    iy = np.clip(np.minimum(rows[:, Y2], y + h) - np.maximum(rows[:, Y1], y), 0, None)
    inter = ix * iy
    areas = (rows[:, X2] - rows[:, X1]) * (rows[:, Y2] - rows[:, Y1])
    iou: np.ndarray = inter / np.maximum(areas + w * h - inter, 1e-9)
    return iou


def _tracked(doc: Detections, visible: np.ndarray, boxes: np.ndarray) -> tuple[float, int]:
    """The share of visible marks with a tracked box on him, and the changes of its id
    from one such mark to the next (the tracker's ID switches on him)."""
    ids = []
    for f in np.flatnonzero(visible):
        rows = doc.rows(int(f))
        rows = rows[(rows[:, TRACK] >= 0) & (rows[:, INTERP] == 0)]
        if not len(rows):
            continue
        iou = _iou(rows, boxes[f])
        best = int(np.argmax(iou))
        if iou[best] >= MATCH_IOU:
            ids.append(int(rows[best, TRACK]))
    switches = sum(1 for a, b in itertools.pairwise(ids) if a != b)
    return (len(ids) / int(visible.sum()) if visible.any() else float("nan")), switches


@dataclass(frozen=True)
class ClipResult:
    """A ground-truth file's follow: its score, timings, and why a click was refused."""

    name: str
    score: RealScore
    run: FollowRun
    decode_s: float

    @property
    def ratio(self) -> float:
        """The follow's time over one decode of the clip."""
        return sum(self.run.seconds.values()) / self.decode_s


def measure_clip(
    name: str,
    truth: Truth,
    clip: Path,
    others: Sequence[Truth] = (),
    stride: int | None = None,
) -> ClipResult:
    """``truth``'s click followed through ``clip`` as a job does, and scored (``others``:
    the other people annotated on the clip; ``stride``: detect every Nth frame, None for
    the detect stage's default)."""
    click = Highlight(frame=truth.click.frame, x=truth.click.x, y=truth.click.y)
    decode = decode_seconds(clip)
    run = follow_click(clip, click, stride)
    score = score_follow(
        truth, run.strength, run.centres, run.window_x, run.window_w, run.doc, others
    )
    return ClipResult(name, score, run, decode)


HEADER = (
    "| clip: person | annotated (visible / occluded / absent) | on person | in his box "
    "| false light "
    "(frames, of lit) | lit after a cut | on someone else | hidden: lit on him / away "
    "| in 9:16 | tracked "
    "| ID switches | follow / decode (s) |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def real_row(result: ClipResult) -> str:
    """One line of the real-footage table."""
    s, run = result.score, result.run
    follow = sum(run.seconds.values())
    timing = f"{result.ratio:.2f}x ({follow:.1f} / {result.decode_s:.1f})"
    if run.refused is not None:
        return (
            f"| {result.name} | {s.visible} / {s.occluded} / {s.absent} "
            f"| refused: {run.refused} | - | - | - | - | - | - | - | - | {timing} |"
        )
    return (
        f"| {result.name} | {s.visible} / {s.occluded} / {s.absent} | {s.on_person:.0%} "
        f"| {s.in_box:.0%} | {s.false_light} ({s.false_share:.1%}) | {s.after_cut} "
        f"| {s.on_other} | {s.hidden_near} / {s.hidden_away} | {s.in_window:.0%} | {s.tracked:.0%} "
        f"| {s.id_switches} | {timing} |"
    )


def goals_missed(result: ClipResult) -> list[str]:
    """The goals ``result`` misses, named."""
    s = result.score
    if result.run.refused is not None:
        return ["the click is refused"]
    missed = []
    if not s.on_person >= GOALS["on_person"]:
        missed.append(f"on person {s.on_person:.0%} < 90%")
    if s.after_cut > GOALS["after_cut"]:
        missed.append(f"{s.after_cut} frames lit after a cut")
    if s.false_share > GOALS["false_share"]:
        missed.append(f"false light {s.false_share:.1%} > 2%")
    if not s.in_window >= GOALS["in_window"]:
        missed.append(f"in 9:16 {s.in_window:.0%} < 95%")
    if result.ratio > GOALS["ratio"]:
        missed.append(f"follow {result.ratio:.2f}x decode > 1.3x")
    return missed

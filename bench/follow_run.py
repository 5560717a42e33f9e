"""A click followed as a job follows it, without the bucket or the encodes.

A bench that re-implements the follow measures its own copy; this module calls
the product's own pieces in the order a job does, so what lands in
``pipeline/`` shows in the figures:

1. detect (the detect stage's pass, :func:`pipeline.stages.detect.detect_pass`):
   the motion backend detects every frame, our tracker tracks, the shots are cut,
   and the clicked player is followed by his look in the same decode;
2. the overlay: :meth:`OverlayStage.open_step` picks and follows the click
   from those detections (the one place a click becomes a lit track); the
   bench reads, per frame, the box the step draws and its strength;
3. framing's ``follow: "player"``: the 9:16 window's corner per frame
   (:meth:`FramingStage._follow_path`, the stage's own path code).

The two stages read the detections from a stand-in context: a bucket holding
the JSON they would read in a job, and the default encoder.

Example::

    run = follow_click(clip, Highlight(frame=118, x=433, y=120))
    run.lit, run.centres, run.window_x, run.seconds
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.motion import MotionDetector
from pipeline.follow.camera_path import window_size
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import (
    Click,
    DetectParams,
    FramingParams,
    Highlight,
    OverlayParams,
    StageName,
)
from pipeline.media.codec import VIDEO_CODEC, even
from pipeline.media.frames import FrameReader
from pipeline.media.probe import VideoInfo, probe
from pipeline.stages.base import StageRequest
from pipeline.stages.detect import PassPlan, detect_pass, follow_clicks
from pipeline.stages.framing import FramingStage
from pipeline.stages.overlay import OverlayStage, OverlayStep
from pipeline.stages.table import Artifact

DETECTIONS_KEY = "detect/detections.json"


def tracked_detections(
    clip: Path,
    work: Path | None = None,
    stride: int | None = None,
    clicks: list[Click] | None = None,
) -> Detections:
    """The motion backend's tracked detections of ``clip``, with its shot boundaries, on
    every ``stride``-th frame (filled in between; by default the stride a job's detect
    stage takes with the motion backend), as the detect stage makes them, with the
    ``clicks`` followed by their look in the same pass."""
    info = probe(clip)
    params = DetectParams(stride=stride)
    plan = PassPlan(0, info.frame_count, clicks=list(clicks or []))
    return detect_pass(clip, info, MotionDetector(), params, plan)


def with_look(doc: Detections, clip: Path | None, click: Highlight) -> Detections:
    """``doc`` with the clicked player also followed by his look, as the detect stage
    does for a job's click (unchanged without a ``clip``)."""
    if clip is None:
        return doc
    assert click.frame is not None and click.x is not None and click.y is not None
    at = Click(frame=click.frame, x=round(click.x), y=round(click.y))
    return doc.model_copy(update={"looks_followed": follow_clicks(clip, probe(clip), doc, [at])})


class _Bucket:
    """The one read the overlay and framing make in a job: the detections' JSON."""

    def __init__(self, doc: Detections) -> None:
        self._data = doc.model_dump(mode="json")

    def get_json(self, key: str) -> SimpleNamespace:
        assert key == DETECTIONS_KEY, key
        return SimpleNamespace(data=self._data)


def _request(stage: StageName, params: Any) -> StageRequest[Any]:
    upstream = {StageName.DETECT: {Artifact.DETECTIONS: DETECTIONS_KEY}}
    return StageRequest(
        user_id="bench",
        job_id="bench",
        stage=stage,
        video_key="clip.mp4",
        params=params,
        final=True,
        upstream=upstream,
    )


def overlay_step(doc: Detections, click: Highlight) -> OverlayStep:
    """The overlay's step for ``click`` on the source's own frames (StageParamsInvalid
    when the click picks nobody, as the job would fail)."""
    ctx: Any = SimpleNamespace(bucket=_Bucket(doc), encoder=VIDEO_CODEC)
    request = _request(StageName.OVERLAY, OverlayParams(highlight=click))
    return OverlayStage().open_step(ctx, request, None)


def drawn(step: OverlayStep, width: int, height: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, what the step draws: the strength of the light (0: none) and the
    centre of the drawn box, as its ``feed`` decides them."""
    strength = np.zeros(frames)
    centres = np.full((frames, 2), np.nan)
    for i in range(frames):
        box = step.track.box_at(i)
        if box is None:
            continue
        inside = getattr(box, "inside", None)
        if inside is not None:  # the overlay clamps the box to the frame before drawing
            box = inside(width, height)
        strength[i] = step.track.strength_at(i)
        centres[i] = (box.x + box.w / 2, box.y + box.h / 2)
    return strength, centres


def window_path(doc: Detections, info: VideoInfo, click: Highlight) -> tuple[np.ndarray, int]:
    """Framing's 9:16 window following the clicked player: its corner ``[x, y]`` per
    frame, and its width."""
    ctx: Any = SimpleNamespace(bucket=_Bucket(doc), encoder=VIDEO_CODEC)
    params = FramingParams(follow="player", player=click)
    path, _ = FramingStage._follow_path(ctx, _request(StageName.FRAMING, params), params, info)
    win_w, _ = window_size(even(info.display_width), even(info.display_height), 9 / 16)
    return np.asarray(path), win_w


@dataclass(frozen=True)
class FollowRun:
    """One click followed: the detections, the light and the window per frame, how long
    each part took; ``refused`` says why the job would fail instead."""

    doc: Detections
    strength: np.ndarray
    centres: np.ndarray
    window_x: np.ndarray
    window_w: int
    seconds: dict[str, float]
    refused: str | None = None

    @property
    def lit(self) -> np.ndarray:
        """Frames where any light is drawn."""
        lit: np.ndarray = self.strength > 0
        return lit


def follow_click(
    clip: Path, click: Highlight, stride: int | None = None, info: VideoInfo | None = None
) -> FollowRun:
    """``click`` followed through ``clip`` (see the module docstring), timed; detected on
    every ``stride``-th frame (None: the detect stage's default). ``info``: the clip's
    probe, where the caller has it (else probed here, before the timing starts)."""
    info = probe(clip) if info is None else info
    assert click.frame is not None and click.x is not None and click.y is not None
    at = Click(frame=click.frame, x=round(click.x), y=round(click.y))
    t0 = time.perf_counter()
    doc = tracked_detections(clip, stride=stride, clicks=[at])
    t1 = t2 = time.perf_counter()  # the look is followed in the detect pass
    n, width, height = doc.video.frame_count, doc.video.width, doc.video.height
    try:
        step = overlay_step(doc, click)
        path, win_w = window_path(doc, info, click)
    except StageParamsInvalid as exc:
        seconds = {"detect": t1 - t0, "look": t2 - t1, "follow": time.perf_counter() - t2}
        nothing = np.full(n, np.nan)
        return FollowRun(doc, np.zeros(n), np.full((n, 2), np.nan), nothing, 0, seconds, str(exc))
    t3 = time.perf_counter()
    strength, centres = drawn(step, width, height, n)
    seconds = {"detect": t1 - t0, "look": t2 - t1, "follow": t3 - t2}
    return FollowRun(doc, strength, centres, path[:, 0].astype(np.float64), win_w, seconds)


def decode_seconds(clip: Path, repeat: int = 3, info: VideoInfo | None = None) -> float:
    """The least time of ``repeat`` decodes of every frame of ``clip`` through the
    product's reader (the floor of any pass over the clip); ``info`` as for
    :func:`follow_click`."""
    info = probe(clip) if info is None else info
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with FrameReader(clip, info) as reader:
            for _frame in reader.frames():
                pass
        best = min(best, time.perf_counter() - start)
    return best

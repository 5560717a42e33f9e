"""Detect: players and the ball (yolo) or moving regions (motion), tracked, per frame.

Writes ``detect/detections.json`` (see :mod:`pipeline.manifests.detections`);
framing's ``follow`` and the overlay's click/track highlight read it. The
players the job clicks are also followed by their look through their shot
(:mod:`pipeline.follow.look`), in a second, cheap pass. The video passes
through untouched: the next stage reads the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import structlog

from pipeline.detect.assemble import assemble
from pipeline.detect.backends import select_detector
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.contract import Detector, FrameDetections
from pipeline.detect.shots import ShotCuts
from pipeline.follow.look import follow_look
from pipeline.follow.look_in_pass import LooksInPass
from pipeline.follow.look_seed import look_seed
from pipeline.manifests.detections import Detections, FollowedLook, VideoFacts, encode_look
from pipeline.manifests.job import Click, DetectParams, StageName
from pipeline.media.codec import even
from pipeline.media.probe import VideoInfo
from pipeline.stages.base import ProgressShare, StageContext, StageRequest, StageResult
from pipeline.stages.table import Artifact

log = structlog.get_logger(__name__)


LOOK_SHARE = 0.15  # of the stage's progress: following the clicked players by their look


def _follow_click(
    source: Path,
    info: VideoInfo,
    doc: Detections,
    click: Click,
    progress: Callable[[float], None],
) -> tuple[np.ndarray, np.ndarray] | None:
    """The clicked player's boxes and colours, followed by his look through his shot by
    a decode of its own (None: no player there; the stage that uses the click says so)."""
    seed = look_seed(doc, click)
    if seed is None:
        return None
    try:
        return follow_look(source, info, seed, progress=progress)
    except ValueError as exc:  # too small a box to follow by its look
        log.info("look_follow_skipped", reason=str(exc))
        return None


def _followed_look(click: Click, boxes: np.ndarray, colours: np.ndarray) -> FollowedLook:
    """The detections' record of a click followed by its look."""
    found = np.flatnonzero(~np.isnan(boxes[:, 0]))
    rows = [(int(f), *(round(float(v), 1) for v in boxes[f])) for f in found]
    looks = [encode_look(colours[f]) for f in found]
    return FollowedLook(frame=click.frame, x=click.x, y=click.y, boxes=rows, appearance=looks)


def follow_clicks(
    source: Path,
    info: VideoInfo,
    doc: Detections,
    clicks: list[Click],
    progress: Callable[[float], None] = lambda fraction: None,
    in_pass: LooksInPass | None = None,
) -> list[FollowedLook]:
    """Each clicked player (with a plausible box under the click) followed by his look:
    as ``in_pass`` followed him in the detect pass's own decode where it could, else
    by a decode of the click's shot (the same boxes either way)."""
    followed = []
    for i, click in enumerate(clicks):
        share = ProgressShare(i / len(clicks), 1 / len(clicks))
        found = None if in_pass is None else in_pass.result(i, doc)
        if found is None:
            found = _follow_click(source, info, doc, click, _part_of(progress, share))
        if found is not None:
            followed.append(_followed_look(click, *found))
    return followed


def _part_of(progress: Callable[[float], None], part: ProgressShare) -> Callable[[float], None]:
    """A progress callback for one ``part`` of what ``progress`` reports."""
    return lambda fraction: progress(part.at(fraction))


@dataclass(frozen=True)
class PassPlan:
    """What one detect pass covers: frames ``[start, end)``, detected in batches of
    ``batch_size``, and the ``clicks`` whose players it also follows by their look."""

    start: int
    end: int
    batch_size: int = 8
    clicks: list[Click] = field(default_factory=list)


def detect_pass(
    source: Path,
    info: VideoInfo,
    detector: Detector,
    params: DetectParams,
    plan: PassPlan,
    progress: Callable[[float], None] = lambda fraction: None,
) -> Detections:
    """The detections of ``plan``'s frames: one decode detects (every ``stride``-th
    frame), tracks, cuts the shots and follows the clicked players by their look
    (:mod:`pipeline.follow.look_in_pass`); a click it could not follow there is
    followed after it by a decode of its shot."""
    shots = ShotCuts(float(info.fps))
    stride = params.stride_for(detector.name)
    share = LOOK_SHARE if plan.clicks else 0.0
    video = VideoFacts(
        width=even(info.display_width),
        height=even(info.display_height),
        fps=float(info.fps),
        frame_count=info.frame_count,
    )

    def draft(found: dict[int, FrameDetections]) -> Detections:
        """The detections of what was found so far (the cuts so far)."""
        return assemble(
            found,
            video,
            backend=detector.name,
            classes=detector.classes,
            stride=stride,
            ball_confidence=params.ball_confidence,
            max_ball_gap=round(params.max_ball_gap_s * float(info.fps)),
            cuts=shots.cuts,
        )

    in_pass = LooksInPass(plan.clicks, info, draft) if plan.clicks else None
    found = detect_frames(
        source,
        info,
        detector,
        start=plan.start,
        end=plan.end,
        stride=stride,
        batch_size=plan.batch_size,
        tracker=tracking(),
        progress=lambda fraction: progress((1 - share) * fraction),
        shots=shots,
        looks=in_pass,
    )
    doc = draft(found)
    part = _part_of(progress, ProgressShare(1 - share, share))
    followed = follow_clicks(source, info, doc, plan.clicks, part, in_pass=in_pass)
    return doc.model_copy(update={"looks_followed": followed})


class DetectStage:
    """One pass of the configured detector over the clip."""

    name: ClassVar[StageName] = StageName.DETECT
    # 2: shot boundaries; 3: colours, camera motion, stride; 4: our own tracker;
    # 5: motion fragments joined into upright boxes, still people held by their look
    version: ClassVar[str] = "5"

    def run(self, ctx: StageContext, request: StageRequest[DetectParams]) -> StageResult:
        """Detect on ``request.video_key``; outputs ``{Artifact.DETECTIONS: key}``."""
        params = request.params
        detector = select_detector(ctx.settings, params)
        source, info = ctx.fetch_video(request.video_key)
        start, end = request.frame_window(info)
        if request.segment is not None:  # from ``overlap`` frames early, to stitch tracks
            start = max(0, start - request.segment.overlap)
        clicks = params.follow if request.segment is None else []
        plan = PassPlan(start, end, ctx.settings.models.detect_batch, clicks)
        doc = detect_pass(source, info, detector, params, plan, ctx.progress)
        name = "detections.json"
        if request.segment is not None:
            name = request.segment.artifact_named(name)
        key = ctx.publish_json(doc.model_dump(mode="json"), request, name)
        outputs = {Artifact.DETECTIONS: key}
        return StageResult(outputs=outputs, frames=end - start, backend=detector.name)

"""Detect: players and the ball (yolo) or moving regions (motion), tracked, per frame.

Writes ``detect/detections.json`` (see :mod:`pipeline.manifests.detections`);
framing's ``follow`` and the overlay's click/track highlight read it. The
players the job clicks are also followed by their look through their shot
(:mod:`pipeline.follow.look`), in a second, cheap pass. The video passes
through untouched: the next stage reads the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import structlog

from pipeline.core.boxes import Box
from pipeline.core.errors import StageParamsInvalid
from pipeline.detect.assemble import assemble
from pipeline.detect.backends import select_detector
from pipeline.detect.clip_detection import detect_frames, tracking
from pipeline.detect.shots import ShotCuts
from pipeline.follow.look import LookSeed, follow_look
from pipeline.follow.pick import player_at
from pipeline.manifests.detections import Detections, FollowedLook, VideoFacts, encode_look
from pipeline.manifests.job import Click, DetectParams, StageName
from pipeline.media.codec import even
from pipeline.media.probe import VideoInfo
from pipeline.stages.base import ProgressShare, StageContext, StageRequest, StageResult
from pipeline.stages.table import Artifact

log = structlog.get_logger(__name__)


LOOK_SHARE = 0.15  # of the stage's progress: following the clicked players by their look
SEED_ASPECT = 0.45  # the template: the picked box's height, at most this much as wide


def _follow_click(
    source: Path,
    info: VideoInfo,
    doc: Detections,
    click: Click,
    progress: Callable[[float], None],
) -> FollowedLook | None:
    """The clicked player followed by his look through his shot (None: no player there;
    the stage that uses the click says so)."""
    try:
        hit = player_at(doc, click.frame, click.x, click.y)
    except StageParamsInvalid:
        return None
    frame, height = hit.frame, hit.box.h
    width = min(hit.box.w, SEED_ASPECT * height)
    # Centred on the click (on the player): the box under or near it may hold others too.
    seed = LookSeed(
        frame, Box(click.x - width / 2, click.y - height / 2, width, height), doc.shot_of(frame)
    )
    try:
        boxes, colours = follow_look(source, info, seed, progress=progress)
    except ValueError as exc:  # too small a box to follow by its look
        log.info("look_follow_skipped", reason=str(exc))
        return None
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
) -> list[FollowedLook]:
    """Each clicked player (with a plausible box under the click) followed by his look."""
    followed = []
    for i, click in enumerate(clicks):
        share = ProgressShare(i / len(clicks), 1 / len(clicks))
        look = _follow_click(source, info, doc, click, _part_of(progress, share))
        if look is not None:
            followed.append(look)
    return followed


def _part_of(progress: Callable[[float], None], part: ProgressShare) -> Callable[[float], None]:
    """A progress callback for one ``part`` of what ``progress`` reports."""
    return lambda fraction: progress(part.at(fraction))


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
        shots = ShotCuts(float(info.fps))
        stride = params.stride_for(detector.name)
        looks = params.follow if request.segment is None else []
        share = LOOK_SHARE if looks else 0.0
        found = detect_frames(
            source,
            info,
            detector,
            start=start,
            end=end,
            stride=stride,
            batch_size=ctx.settings.detect_batch,
            tracker=tracking(),
            progress=lambda fraction: ctx.progress((1 - share) * fraction),
            shots=shots,
        )
        video = VideoFacts(
            width=even(info.display_width),
            height=even(info.display_height),
            fps=float(info.fps),
            frame_count=info.frame_count,
        )
        doc = assemble(
            found,
            video,
            backend=detector.name,
            classes=detector.classes,
            stride=stride,
            ball_confidence=params.ball_confidence,
            max_ball_gap=round(params.max_ball_gap_s * float(info.fps)),
            cuts=shots.cuts,
        )
        part = ProgressShare(1 - share, share)
        followed = follow_clicks(source, info, doc, looks, _part_of(ctx.progress, part))
        doc = doc.model_copy(update={"looks_followed": followed})
        name = "detections.json"
        if request.segment is not None:
            name = request.segment.artifact_named(name)
        key = ctx.publish_json(doc.model_dump(mode="json"), request, name)
        outputs = {Artifact.DETECTIONS: key}
        return StageResult(outputs=outputs, frames=end - start, backend=detector.name)

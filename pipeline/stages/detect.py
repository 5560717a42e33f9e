"""Detect: players and the ball (yolo) or moving regions (motion), tracked, per frame.

Writes ``detect/detections.json`` (see :mod:`pipeline.manifests.detections`);
framing's ``follow`` and the overlay's click/track highlight read it. The
video passes through untouched: the next stage reads the same input.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.detect.assemble import assemble
from pipeline.detect.backends import select_detector
from pipeline.detect.clip_detection import bytetrack, detect_frames
from pipeline.detect.shots import ShotCuts
from pipeline.manifests.detections import VideoFacts
from pipeline.manifests.job import DetectParams, StageName
from pipeline.media.codec import even
from pipeline.stages.base import StageContext, StageRequest, StageResult


class DetectStage:
    """One pass of the configured detector over the clip."""

    name: ClassVar[StageName] = StageName.DETECT
    version: ClassVar[str] = "3"  # 2: shot boundaries; 3: colours, camera motion, stride

    def run(self, ctx: StageContext, request: StageRequest) -> StageResult:
        """Detect on ``request.video_key``; outputs ``{"detections": key}``."""
        params = request.params
        assert isinstance(params, DetectParams)
        detector = select_detector(ctx.settings, params)
        source, info = ctx.fetch_video(request.video_key)
        start, end = request.frame_window(info)
        if request.segment is not None:  # from ``overlap`` frames early, to stitch tracks
            start = max(0, start - request.segment.overlap)
        shots = ShotCuts(float(info.fps))
        stride = params.stride_for(detector.name)
        found = detect_frames(
            source,
            info,
            detector,
            start=start,
            end=end,
            stride=stride,
            batch_size=ctx.settings.detect_batch,
            tracker=bytetrack(ctx.settings.scratch_dir / "ultralytics"),
            progress=ctx.progress,
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
        name = "detections.json"
        if request.segment is not None:
            name = request.segment.artifact_named(name)
        key = ctx.publish_json(doc.model_dump(mode="json"), request, name)
        return StageResult(outputs={"detections": key}, frames=end - start, backend=detector.name)

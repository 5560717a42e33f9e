"""Overlay: a spotlight that follows the highlighted player.

Decodes with PyAV, draws on the yuv420p planes in place, encodes with x264 and
copies the audio packets through untouched (no audio re-encode).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pipeline.core.errors import StageParamsInvalid
from pipeline.core.settings import EncodeProfile
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.frames import FrameReader, FrameWriter
from pipeline.media.probe import VideoInfo
from pipeline.render.spotlight import Spotlight
from pipeline.stages.base import (
    AnyStageRequest,
    ProgressFn,
    StageContext,
    StageRequest,
    StageResult,
)
from pipeline.stages.highlight_track import HighlightTrack
from pipeline.stages.table import Artifact
from pipeline.stages.track_pick import PickedTrack, coverage, pick_track


class OverlayStage:
    """Spotlight one player through the clip."""

    name: ClassVar[StageName] = StageName.OVERLAY
    version: ClassVar[str] = "3"  # 3: the follow compares colours, keeps the clicked point

    def run(self, ctx: StageContext, request: StageRequest[OverlayParams]) -> StageResult:
        """Render the highlight onto ``request.video_key``."""
        params = request.params
        source, info = ctx.fetch_video(request.video_key)
        timeline = self._timeline(ctx, request)
        picked, backend = self._pick(ctx, request, params)
        if picked is None:
            assert params.highlight.boxes is not None
            track = HighlightTrack(params.highlight.boxes, timeline)
        else:
            track = HighlightTrack(picked.keyframes, timeline, picked.strength)
        spotlight = Spotlight(params.style, params.dim)
        output = ctx.scratch / "overlay.mp4"
        frames = render_highlight(
            source,
            output,
            info,
            track,
            spotlight,
            ctx.encode_profile(request),
            ctx.progress,
            window=request.frame_window(info) if request.segment else None,
        )
        outputs = {Artifact.VIDEO: ctx.publish(output, request, request.output_name())}
        details = {}
        if picked is not None:
            start, _ = request.frame_window(info)
            seen = [
                int(picked.seen[min(max(round(track.source_frame(i)), 0), len(picked.seen) - 1)])
                for i in range(start, start + frames)
            ]
            details = {
                "picked": picked.summary(backend),
                "coverage": coverage(seen, float(info.fps)),
            }
        return StageResult(outputs=outputs, frames=frames, backend="pyav-x264", details=details)

    @staticmethod
    def _pick(
        ctx: StageContext, request: AnyStageRequest, params: OverlayParams
    ) -> tuple[PickedTrack | None, str]:
        """The picked player's track from the detections (None: keyframes were given)."""
        if params.highlight.boxes is not None:
            return None, ""
        key = request.upstream.get(StageName.DETECT, {}).get(Artifact.DETECTIONS)
        if key is None:
            raise StageParamsInvalid("a click or track_id highlight needs the detect stage")
        doc = Detections.model_validate(ctx.bucket.get_json(key).data)
        return pick_track(doc, params.highlight), doc.backend

    @staticmethod
    def _timeline(ctx: StageContext, request: AnyStageRequest) -> FramingTimeline | None:
        key = request.upstream.get(StageName.FRAMING, {}).get(Artifact.TIMELINE)
        if key is None:
            return None
        return FramingTimeline.model_validate(ctx.bucket.get_json(key).data)


def render_highlight(
    source: Path,
    output: Path,
    info: VideoInfo,
    track: HighlightTrack,
    spotlight: Spotlight,
    profile: EncodeProfile,
    progress: ProgressFn,
    *,
    window: tuple[int, int] | None = None,
) -> int:
    """The overlay's frame loop on local files; returns the frames written.

    With a ``window`` (one segment of a parallel run) only those frames are
    rendered, video only, timestamps starting at zero.
    """
    start, end = window or (0, info.frame_count)
    total = max(1, end - start)
    with (
        FrameReader(source, info) as reader,
        FrameWriter(
            output,
            reader.width,
            reader.height,
            reader.fps,
            profile,
            time_base=reader.time_base,
            audio_template=reader.audio if window is None else None,
            renumber=window is not None,
        ) as writer,
    ):
        frames = (
            reader.frames(on_audio=writer.mux_audio)
            if window is None
            else reader.frames(start=start, end=end)
        )
        for frame in frames:
            spotlight.annotate(frame, track.box_at(frame.index), track.strength_at(frame.index))
            writer.write(frame)
            progress(min(1.0, (frame.index - start + 1) / total))
        return writer.frames_written

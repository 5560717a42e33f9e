"""Overlay: a spotlight that follows the highlighted player.

Decodes with PyAV, draws on the yuv420p planes in place, encodes with x264 and
copies the audio packets through untouched (no audio re-encode).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.frames import FrameReader, FrameWriter
from pipeline.media.probe import VideoInfo
from pipeline.render.spotlight import Spotlight
from pipeline.settings import EncodeProfile
from pipeline.stages.base import ProgressFn, StageContext, StageRequest, StageResult
from pipeline.stages.highlight_track import HighlightTrack


class OverlayStage:
    """Spotlight one player through the clip."""

    name: ClassVar[StageName] = StageName.OVERLAY
    version: ClassVar[str] = "1"

    def run(self, ctx: StageContext, request: StageRequest) -> StageResult:
        """Render the highlight onto ``request.video_key``."""
        params = request.params
        assert isinstance(params, OverlayParams)
        source, info = ctx.fetch_video(request.video_key)
        timeline = self._timeline(ctx, request)
        track = HighlightTrack(params.highlight.boxes, timeline)
        spotlight = Spotlight(params.style, params.dim)
        output = ctx.scratch / "overlay.mp4"
        frames = render_highlight(
            source, output, info, track, spotlight, ctx.encode_profile(request), ctx.progress
        )
        outputs = {"video": ctx.publish(output, request, "video.mp4")}
        return StageResult(outputs=outputs, frames=frames, backend="pyav-x264")

    @staticmethod
    def _timeline(ctx: StageContext, request: StageRequest) -> FramingTimeline | None:
        key = request.upstream.get(StageName.FRAMING, {}).get("timeline")
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
) -> int:
    """The overlay's frame loop on local files; returns the frames written."""
    total = max(1, info.frame_count)
    with (
        FrameReader(source, info) as reader,
        FrameWriter(
            output,
            reader.width,
            reader.height,
            reader.fps,
            profile,
            time_base=reader.time_base,
            audio_template=reader.audio,
        ) as writer,
    ):
        for frame in reader.frames(on_audio=writer.mux_audio):
            spotlight.annotate(frame, track.box_at(frame.index))
            writer.write(frame)
            progress(min(1.0, (frame.index + 1) / total))
        return writer.frames_written

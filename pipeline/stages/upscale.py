"""Upscale: super-resolution of the reel, the last stage of the chain.

Frames are decoded as yuv420p, handed to the backend in batches (the model on
the GPU in production, the classical upscaler when no weights are configured),
and encoded at ``scale`` times the size; the audio packets are copied through.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.core.errors import LimitExceeded
from pipeline.manifests.job import StageName, UpscaleParams
from pipeline.media.frames import FrameReader, FrameWriter, YuvFrame
from pipeline.stages.base import StageContext, StageRequest, StageResult
from pipeline.stages.table import Artifact
from pipeline.superres.backends import Planes, Upscaler, select_backend


class UpscaleStage:
    """x2 or x4, model or classical."""

    name: ClassVar[StageName] = StageName.UPSCALE
    version: ClassVar[str] = "1"

    def run(self, ctx: StageContext, request: StageRequest[UpscaleParams]) -> StageResult:
        """Upscale ``request.video_key``."""
        params = request.params
        source, info = ctx.fetch_video(request.video_key)
        scale = params.scale
        limit = ctx.settings.max_output_pixels
        out_w, out_h = info.display_width // 2 * 2 * scale, info.display_height // 2 * 2 * scale
        if out_w * out_h > limit:
            raise LimitExceeded(
                f"upscaling {info.display_width}x{info.display_height} by {scale} gives "
                f"{out_w}x{out_h}, over the {limit} pixel limit (REELPIPE_MAX_OUTPUT_PIXELS)"
            )
        upscaler = select_backend(ctx.settings, scale, params.backend.value)
        output = ctx.scratch / "upscaled.mp4"
        batch: list[YuvFrame] = []
        start, end = request.frame_window(info)
        segmented = request.segment is not None
        total = max(1, end - start)
        with (
            FrameReader(source, info) as reader,
            FrameWriter(
                output,
                out_w,
                out_h,
                reader.fps,
                ctx.encode_profile(request),
                time_base=reader.time_base,
                audio_template=None if segmented else reader.audio,
                renumber=segmented,
            ) as writer,
        ):
            decoded = (
                reader.frames(start=start, end=end)
                if segmented
                else reader.frames(on_audio=writer.mux_audio)
            )
            for frame in decoded:
                batch.append(frame)
                if len(batch) == ctx.settings.upscale_batch:
                    _flush(upscaler, batch, writer)
                    ctx.progress(min(1.0, (frame.index - start + 1) / total))
            _flush(upscaler, batch, writer)
            frames = writer.frames_written
        outputs = {Artifact.VIDEO: ctx.publish(output, request, request.output_name())}
        return StageResult(outputs=outputs, frames=frames, backend=upscaler.name)


def _flush(upscaler: Upscaler, batch: list[YuvFrame], writer: FrameWriter) -> None:
    if not batch:
        return
    planes: list[Planes] = [(f.y, f.u, f.v) for f in batch]
    for frame, (y, u, v) in zip(batch, upscaler.upscale_batch(planes), strict=True):
        writer.write(YuvFrame.from_planes(frame.index, y, u, v, template=frame.av_frame))
    batch.clear()

"""Upscale: super-resolution of the reel, the last stage of the chain.

Frames are decoded as yuv420p, handed to the backend in batches (the model on
the GPU in production, the classical upscaler when no weights are configured),
and encoded at ``scale`` times the size; the audio packets are copied through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pipeline.core.errors import LimitExceeded
from pipeline.manifests.job import StageName, UpscaleParams
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.frames import FrameReader, FrameWriter, YuvFrame
from pipeline.stages.base import StageContext, StageRequest, StageResult
from pipeline.stages.frame_pass import Geometry, PassClock, run_pass
from pipeline.stages.table import Artifact
from pipeline.superres.backends import Upscaler, select_backend


class UpscaleStep:
    """The upscaler inside a pass: frames in batches, each ``scale`` times larger."""

    stage = StageName.UPSCALE

    def __init__(self, upscaler: Upscaler, batch: int) -> None:
        self.upscaler = upscaler
        self.batch_size = batch
        self._held: list[YuvFrame] = []

    @property
    def backend(self) -> str:
        """The upscaler's name, for the status."""
        return self.upscaler.name

    def details(self, first: int, frames: int, fps: float) -> dict[str, object]:
        """Nothing to add to the status."""
        return {}

    def output_geometry(self, incoming: Geometry) -> Geometry:
        """``scale`` times the size, the same rate."""
        s = self.upscaler.scale
        return Geometry(incoming.width * s, incoming.height * s, incoming.fps, incoming.time_base)

    def feed(self, frame: YuvFrame) -> Sequence[YuvFrame]:
        """Hold the frame; a full batch comes back upscaled."""
        self._held.append(frame)
        if len(self._held) < self.batch_size:
            return ()
        return self.flush()

    def flush(self) -> Sequence[YuvFrame]:
        """Upscale what is held."""
        batch, self._held = self._held, []
        if not batch:
            return ()
        return self.upscaler.upscale_frames(batch)


class UpscaleStage:
    """x2 or x4, model or classical."""

    name: ClassVar[StageName] = StageName.UPSCALE
    version: ClassVar[str] = "2"  # 2: the classical backend resamples with swscale

    def run(self, ctx: StageContext, request: StageRequest[UpscaleParams]) -> StageResult:
        """Upscale ``request.video_key``."""
        source, info = ctx.fetch_video(request.video_key)
        start, end = request.frame_window(info)
        segmented = request.segment is not None
        output = ctx.scratch / "upscaled.mp4"
        with FrameReader(source, info) as reader:
            incoming = Geometry(reader.width, reader.height, reader.fps, reader.time_base)
            step = self.open_step(ctx, request, None, incoming)
            size = step.output_geometry(incoming)
            with FrameWriter(
                output,
                size.width,
                size.height,
                reader.fps,
                ctx.encode_profile(request),
                time_base=reader.time_base,
                audio_template=None if segmented else reader.audio,
                renumber=segmented,
                encoder=ctx.encoder,
            ) as writer:
                decoded = (
                    reader.frames(start=start, end=end)
                    if segmented
                    else reader.frames(on_audio=writer.mux_audio)
                )
                frames = run_pass(
                    decoded,
                    [step],
                    writer,
                    total=end - start,
                    progress=ctx.progress,
                    clock=PassClock(),
                    head=self.name,
                    first_index=start,
                )
        outputs = {Artifact.VIDEO: ctx.publish(output, request, request.output_name())}
        return StageResult(outputs=outputs, frames=frames, backend=step.backend)

    @staticmethod
    def open_step(
        ctx: StageContext,
        request: StageRequest[UpscaleParams],
        timeline: FramingTimeline | None,
        incoming: Geometry | None = None,
    ) -> UpscaleStep:
        """The step that upscales frames of ``incoming`` size (LimitExceeded when the
        result would be larger than allowed)."""
        assert incoming is not None, "the upscaler needs the size of its frames"
        scale = request.params.scale
        limit = ctx.settings.max_output_pixels
        out_w, out_h = incoming.width * scale, incoming.height * scale
        if out_w * out_h > limit:
            raise LimitExceeded(
                f"upscaling {incoming.width}x{incoming.height} by {scale} gives "
                f"{out_w}x{out_h}, over the {limit} pixel limit (REELPIPE_MAX_OUTPUT_PIXELS)"
            )
        upscaler = select_backend(ctx.settings, scale, request.params.backend.value)
        return UpscaleStep(upscaler, ctx.settings.models.upscale_batch)

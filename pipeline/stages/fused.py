"""Adjacent frame stages run as one pass: one decode, each stage's step, one encode.

Framing heading the group decodes and re-times in ffmpeg and hands its frames
over raw; otherwise the group's input is decoded with PyAV. Overlay and
upscale are steps (:mod:`pipeline.stages.frame_pass`), the same code their
unfused runs use; the last one's encode profile writes the output. Nothing is
written between the stages: framing publishes its timeline only, the last
stage the video.

Each stage still gets its own result: frames, backend, details, warnings and
its own seconds of the pass (``busy_s``; set-up counts for the first stage,
encoding and upload for the last), so the status keeps one record per stage.

Example::

    results = run_fused(ctx, [framing_request, overlay_request])
    results[-1].outputs[Artifact.VIDEO]
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

from pipeline.core.errors import ReelpipeError
from pipeline.manifests.job import StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.frames import FrameReader, FrameWriter, check_complete
from pipeline.media.remux import mux_audio
from pipeline.stages.base import AnyStageRequest, StageContext, StageResult
from pipeline.stages.frame_pass import FrameStep, Geometry, PassClock, run_pass
from pipeline.stages.framing import FramingStage
from pipeline.stages.overlay import OverlayStage, OverlayStep
from pipeline.stages.table import Artifact, PassRole, spec_for
from pipeline.stages.upscale import UpscaleStage


class StepStage(Protocol):
    """A stage that works as a step inside a pass."""

    def open_step(
        self,
        ctx: StageContext,
        request: Any,
        timeline: FramingTimeline | None,
        incoming: Geometry | None = None,
    ) -> FrameStep:
        """Its step, for frames of ``incoming`` size framed by ``timeline``."""
        ...


_STEPS: dict[StageName, StepStage] = {
    StageName.OVERLAY: OverlayStage(),
    StageName.UPSCALE: UpscaleStage(),
}


def check_group(requests: Sequence[AnyStageRequest]) -> None:
    """ValueError unless ``requests`` can run as one pass (the stage table's roles)."""
    if len(requests) < 2:
        raise ValueError("a fused pass needs at least two stages")
    for position, request in enumerate(requests):
        role = spec_for(request.stage).frame_pass
        if role is PassRole.NONE or (role is PassRole.HEAD and position > 0):
            raise ValueError(f"stage {request.stage.value} cannot run at that place in a pass")
        if request.segment is not None:
            raise ValueError("a fused pass runs the whole clip")


def run_fused(ctx: StageContext, requests: Sequence[AnyStageRequest]) -> list[StageResult]:
    """Run ``requests`` (adjacent frame stages of one job) as one pass."""
    check_group(requests)
    began = time.perf_counter()
    clock = PassClock()
    head, last = requests[0], requests[-1]
    video_only = ctx.scratch / "fused-video.mp4"
    output = ctx.scratch / "fused.mp4"
    framed = None
    outputs: dict[StageName, dict[Artifact, str]] = {r.stage: {} for r in requests}
    with ExitStack() as stack:
        if head.stage is StageName.FRAMING:
            with blamed(head):
                framed = FramingStage().open_frames(ctx, head)
            stack.enter_context(framed.pipe)
            timeline: FramingTimeline | None = framed.plan.timeline
            geometry = framed.geometry
            total = framed.plan.timeline.output_frames
            outputs[head.stage][Artifact.TIMELINE] = framed.timeline_key
            step_requests = requests[1:]
            reader = None
        else:
            with blamed(head):
                path, info = ctx.fetch_video(head.video_key)
                timeline = OverlayStage.timeline(ctx, head)
            reader = stack.enter_context(FrameReader(path, info))
            geometry = Geometry(reader.width, reader.height, reader.fps, reader.time_base)
            total = info.frame_count
            step_requests = list(requests)
        steps: list[FrameStep] = []
        for request in step_requests:
            with blamed(request):
                step = _STEPS[request.stage].open_step(ctx, request, timeline, geometry)
            geometry = step.output_geometry(geometry)
            steps.append(step)
        tail = steps[-1]
        if last.final and isinstance(tail, OverlayStep):  # it draws the job's last frames
            tail.keep_previews(total, float(geometry.fps))
        clock.add(head.stage, time.perf_counter() - began)
        writer = FrameWriter(
            video_only if framed is not None and framed.audio is not None else output,
            geometry.width,
            geometry.height,
            geometry.fps,
            ctx.encode_profile(last),
            time_base=geometry.time_base,
            audio_template=reader.audio if reader is not None else None,
            renumber=framed is not None,
            encoder=ctx.encoder,
        )
        stack.enter_context(writer)
        if framed is not None:
            frames = framed.pipe.frames()
        else:
            assert reader is not None
            frames = reader.frames(on_audio=writer.mux_audio)
        written = run_pass(
            frames,
            steps,
            writer,
            total=total,
            progress=ctx.progress,
            clock=clock,
            head=head.stage,
        )
        check_complete(written, total)
        tail_began = time.perf_counter()
    # The writer is closed (encoder flushed, moov written) when the stack unwinds; the
    # audio ffmpeg filtered in the same pass is muxed here, without another ffmpeg.
    if framed is not None and framed.audio is not None:
        mux_audio(video_only, framed.audio, output)
    if isinstance(tail, OverlayStep):
        tail.hold_previews(output, written, float(geometry.fps))
    outputs[last.stage][Artifact.VIDEO] = ctx.publish(output, last, "video.mp4")
    clock.add(last.stage, time.perf_counter() - tail_began)
    fps = float(geometry.fps)
    results = []
    for position, request in enumerate(requests):
        if position == 0 and framed is not None:
            backend, details, warnings = "ffmpeg", framed.plan.details, framed.plan.warnings
        else:
            step = steps[position - (len(requests) - len(steps))]
            backend, details, warnings = step.backend, step.details(0, written, fps), ()
        results.append(
            StageResult(
                outputs=outputs[request.stage],
                frames=written,
                backend=f"{backend} (fused)",
                warnings=warnings,
                details=details,
                busy_s=round(clock.of(request.stage), 3),
            )
        )
    return results


@contextmanager
def blamed(request: AnyStageRequest) -> Iterator[None]:
    """A reelpipe error raised inside names ``request``'s stage as where it came from."""
    try:
        yield
    except ReelpipeError as exc:
        exc.stage = exc.stage or request.stage.value
        raise

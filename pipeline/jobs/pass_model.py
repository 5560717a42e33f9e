"""What each stage's pass handles, in frames and pixels, and its seconds on a machine.

A frame count alone mis-plans: a 1080p re-encode costs three times a 9:16 crop of it,
a motion-interpolated second of slow motion many blended ones, and a fused group
decodes and encodes once where its stages alone would each do both. So each stage is
described by its :class:`StageShape` (frames and pixels in and out, slowed frames by
interpolation, its backend's mode) and a pass is priced from the machine's
:class:`~pipeline.core.settings.PassCost` figures; a machine measured only in frames a
second (the Modal GPUs) scales those by pixels relative to the size they were measured at.

Example::

    shapes = stage_shapes(manifest.stages, probe(clip), settings)
    pass_seconds(shapes, settings.costs.compute["cpu"])      # one fused pass, per stage
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pipeline.core.machines import ComputeProfile
from pipeline.core.settings import Settings
from pipeline.manifests.job import (
    DetectBackend,
    DetectParams,
    FramingParams,
    StageName,
    Stages,
    UpscaleBackend,
    UpscaleParams,
)
from pipeline.media.probe import VideoInfo
from pipeline.render.framing_plan import plan_timeline

MEGA = 1_000_000


@dataclass(frozen=True)
class StageShape:
    """The frames one stage reads and writes (pixels per frame), and how it works."""

    stage: StageName
    frames_in: int
    pixels_in: int
    frames_out: int
    pixels_out: int
    mode: str = ""  # the backend, where the stage has several ("model", "yolo")
    slowed: dict[str, int] = field(default_factory=dict)  # output frames by interpolation
    fps: float = 30.0  # of the frames it reads

    @property
    def mpx_in(self) -> float:
        """Megapixels decoded when the stage reads its input itself."""
        return self.frames_in * self.pixels_in / MEGA

    @property
    def mpx_out(self) -> float:
        """Megapixels the stage hands on (encoded when it ends the pass)."""
        return self.frames_out * self.pixels_out / MEGA


def stage_shapes(stages: Stages, info: VideoInfo, settings: Settings) -> list[StageShape]:
    """Each requested stage's shape, in order: framing's trim, crop and speed change what
    later stages see; upscale multiplies the pixels."""
    frames, fps = info.frame_count, float(info.fps)
    pixels = info.display_width * info.display_height
    shapes = []
    for name in stages.requested():
        params = getattr(stages, name.value)
        if isinstance(params, FramingParams):
            shape = _framing_shape(params, info)
        elif isinstance(params, UpscaleParams):
            mode = _upscale_mode(params, settings)
            shape = StageShape(name, frames, pixels, frames, pixels * params.scale**2, mode)
        elif isinstance(params, DetectParams):
            shape = StageShape(name, frames, pixels, frames, pixels, _detect_mode(params, settings))
        else:
            shape = StageShape(name, frames, pixels, frames, pixels)
        shapes.append(replace(shape, fps=fps))
        frames, pixels = shape.frames_out, shape.pixels_out
        if isinstance(params, FramingParams):
            fps = plan_timeline(params, info).output_fps
    return shapes


def _framing_shape(params: FramingParams, info: VideoInfo) -> StageShape:
    """Framing reads the kept source range whole and writes the cropped, re-timed output."""
    timeline = plan_timeline(params, info)
    kept_s = sum(p.source_end_s - p.source_start_s for p in timeline.pieces)
    slowed: dict[str, int] = {}
    for piece in timeline.pieces:
        if piece.factor < 1.0 and piece.interpolate != "none":
            made = round(piece.output_duration_s * timeline.output_fps)
            slowed[piece.interpolate] = slowed.get(piece.interpolate, 0) + made
    return StageShape(
        StageName.FRAMING,
        frames_in=min(info.frame_count, round(kept_s * timeline.source_fps)),
        pixels_in=info.display_width * info.display_height,
        frames_out=timeline.output_frames,
        pixels_out=timeline.crop.width * timeline.crop.height,
        slowed=slowed,
    )


def _upscale_mode(params: UpscaleParams, settings: Settings) -> str:
    if params.backend is UpscaleBackend.AUTO:
        return "model" if settings.models.upscale_weights else "classical"
    return params.backend.value


def _detect_mode(params: DetectParams, settings: Settings) -> str:
    if params.backend is DetectBackend.AUTO:
        return "yolo" if settings.models.yolo_weights else "motion"
    return params.backend.value


def pass_seconds(shapes: Sequence[StageShape], profile: ComputeProfile) -> list[float]:
    """The seconds of ``shapes`` run as one pass on ``profile``'s machine, each stage's
    own part (the head's start and decode, the end's encode), so they add up to the pass.
    A machine without per-pixel figures prices each stage by its frames a second."""
    seconds = []
    for i, shape in enumerate(shapes):
        cost = profile.pass_cost(shape.stage.value, shape.mode)
        if cost is None:
            seconds.append(fps_seconds(shape, profile))
            continue
        own = cost.step_s_per_frame * shape.frames_out + cost.step_s_per_mpx * shape.mpx_out
        for mode, frames in shape.slowed.items():
            rate = profile.interpolation_s_per_mpx.get(mode, 0.0)
            own += rate * frames * shape.pixels_out / MEGA
        if i == 0:
            own += cost.start_s + cost.decode_s_per_mpx * shape.mpx_in
        if i == len(shapes) - 1:  # detect writes detections, not video: its figure is 0
            own += cost.encode_s_per_frame * shape.frames_out
            own += cost.encode_s_per_mpx * shape.mpx_out
        seconds.append(own)
    return seconds


def fps_seconds(shape: StageShape, profile: ComputeProfile) -> float:
    """``shape``'s frames over its stage's rate, scaled by the pixels of the frames it
    reads against the size the rate was measured at."""
    scale = shape.pixels_in / profile.reference_pixels
    return shape.frames_in * scale / profile.fps_for(shape.stage.value)


def work_seconds(shape: StageShape, profile: ComputeProfile) -> float:
    """``shape`` alone on ``profile``'s machine, without its pass's start (the cost model
    adds the machine's own start-ups)."""
    seconds = pass_seconds([shape], profile)[0]
    cost = profile.pass_cost(shape.stage.value, shape.mode)
    return max(0.0, seconds - (cost.start_s if cost else 0.0))

"""Framing: trim, crop and speed changes (slow motion with audio kept in sync).

One ffmpeg pass per job: decode (auto-rotated upright), re-time, crop, encode.
ffmpeg's own frame counter drives the progress. Writes ``video.mp4`` and
``timeline.json`` (how output frames map to source frames, for later stages).
At the head of a fused pass (:mod:`pipeline.stages.fused`) the same graph runs
but its frames come back raw, for the next stage to draw on before the one
encode; it then writes ``timeline.json`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from pipeline.core.errors import StageParamsInvalid
from pipeline.follow.camera_path import (
    CameraView,
    crop_path,
    follow_targets,
    keyframe_targets,
    window_size,
)
from pipeline.follow.pick import pick_track
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import Follow, FramingParams, StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.codec import even, ffmpeg_audio_args, ffmpeg_video_args, mp4_time_base
from pipeline.media.ffmpeg_run import run_ffmpeg
from pipeline.media.frame_pipe import FramePipe
from pipeline.media.frame_size import decoder_cap_args, size_guard
from pipeline.media.frames import check_complete, check_within_budget
from pipeline.media.pass_previews import PASS_PREVIEWS, HeldPreviews
from pipeline.media.previews import graph_previews, preview_frames
from pipeline.media.probe import VideoInfo
from pipeline.media.untrusted_input import ffmpeg_input
from pipeline.render.framing_plan import (
    crop_commands,
    filter_graph,
    framing_warnings,
    plan_timeline,
)
from pipeline.stages.base import AnyStageRequest, StageContext, StageRequest, StageResult
from pipeline.stages.frame_pass import Geometry
from pipeline.stages.table import Artifact


@dataclass(frozen=True)
class FramingPlan:
    """One framing run decided: the source, the timeline and ffmpeg's inputs and graph."""

    source: Path
    info: VideoInfo
    timeline: FramingTimeline
    inputs: list[str]  # -ss/-t/-i and the -filter_complex graph
    details: dict[str, object]
    warnings: tuple[str, ...]

    @property
    def size(self) -> tuple[int, int]:
        """The framed frames' width and height."""
        return self.timeline.crop.width, self.timeline.crop.height


@dataclass
class FramedFrames:
    """Framing as the head of a fused pass: its frames raw from ffmpeg, its audio in a
    file (re-timed and encoded as the unfused stage would), its timeline published."""

    plan: FramingPlan
    pipe: FramePipe
    audio: Path | None
    timeline_key: str

    @property
    def geometry(self) -> Geometry:
        """Size and rate of the framed frames."""
        width, height = self.plan.size
        fps = self.plan.info.fps
        return Geometry(width, height, fps, mp4_time_base(fps))


class FramingStage:
    """Trim, crop, speed: one ffmpeg pass."""

    name: ClassVar[StageName] = StageName.FRAMING
    version: ClassVar[str] = "4"  # 3: follow "player"; 4: the camera solved per shot

    def run(self, ctx: StageContext, request: StageRequest[FramingParams]) -> StageResult:
        """Frame ``request.video_key`` as ``request.params`` says."""
        plan = self.plan(ctx, request)
        timeline, info = plan.timeline, plan.info
        profile = ctx.encode_profile(request)
        output = ctx.scratch / "framed.mp4"
        inputs, label = plan.inputs, "[v]"
        previews: list[str] = []
        held: HeldPreviews | None = None
        if request.final and request.segment is None:
            # The job's last video: its poster and preview come out of this graph too.
            fps = float(info.fps)
            frames = max(1, timeline.output_frames)
            cut = preview_frames(None, None, frames, fps)
            filters, label, previews, held = graph_previews("[v]", output, frames, cut)
            inputs = [*inputs[:-1], inputs[-1] + filters]
        args = [*inputs, "-map", label, *ffmpeg_video_args(profile, ctx.encoder)]
        if info.has_audio:
            args += ["-map", "[a]", *ffmpeg_audio_args(profile)]
        else:
            args += ["-an"]
        args += ["-metadata:s:v:0", "rotate=0", str(output), *previews]
        total = max(1, timeline.output_frames)
        written = [0]

        def on_frames(n: int) -> None:
            written[0] = n  # ffmpeg's last count is the frames it wrote
            check_within_budget(n, total)  # raising here stops ffmpeg
            ctx.progress(min(1.0, n / total))

        run_ffmpeg(args, on_frames=on_frames)
        frames = written[0]
        check_complete(frames, timeline.output_frames)
        if held is not None and held.frames == frames:  # else the cut decodes them as before
            PASS_PREVIEWS.remember(held)
        outputs = {
            Artifact.VIDEO: ctx.publish(output, request, "video.mp4"),
            Artifact.TIMELINE: self._publish_timeline(ctx, request, timeline),
        }
        return StageResult(
            outputs=outputs,
            frames=frames,
            backend="ffmpeg",
            warnings=plan.warnings,
            details=plan.details,
        )

    def open_frames(self, ctx: StageContext, request: StageRequest[FramingParams]) -> FramedFrames:
        """Start the framing pass with its video coming back raw (for a fused pass): the
        caller draws and encodes the frames, then muxes ``audio``."""
        plan = self.plan(ctx, request)
        extra: list[str] = []
        audio = None
        if plan.info.has_audio:
            audio = ctx.scratch / "framed-audio.m4a"
            extra = ["-map", "[a]", *ffmpeg_audio_args(ctx.encode_profile(request)), str(audio)]
        width, height = plan.size
        pipe = FramePipe(plan.inputs, "[v]", width, height, extra_outputs=extra)
        key = self._publish_timeline(ctx, request, plan.timeline)
        return FramedFrames(plan, pipe, audio, key)

    def plan(self, ctx: StageContext, request: StageRequest[FramingParams]) -> FramingPlan:
        """Fetch the clip and decide the run: timeline, follow path, ffmpeg's graph."""
        params = request.params
        source, info = ctx.fetch_video(request.video_key)
        follow, details = (
            self._follow_path(ctx, request, params, info) if params.follow else (None, {})
        )
        timeline = plan_timeline(params, info, follow)
        first = timeline.pieces[0].source_start_s
        last = timeline.pieces[-1].source_end_s
        fps = f"{info.fps.numerator}/{info.fps.denominator}"
        seek = ["-ss", f"{first:.6f}"] if first > 0 else []
        # The decoder refuses pictures over the probed size, the graph any other size.
        before = [*seek, "-t", f"{last - first:.6f}", *decoder_cap_args(info)]
        args = ffmpeg_input(source, before=before)
        commands = None
        if timeline.crop_path:
            commands = ctx.scratch / "follow.cmd"
            commands.write_text(crop_commands(timeline, info.frame_count))
        graph = filter_graph(timeline, fps, info.has_audio, commands, guard=size_guard(info))
        args += ["-filter_complex", graph]
        warnings = tuple(framing_warnings(params, info))
        return FramingPlan(source, info, timeline, args, details, warnings)

    @staticmethod
    def _publish_timeline(
        ctx: StageContext, request: AnyStageRequest, timeline: FramingTimeline
    ) -> str:
        return ctx.publish_json(timeline.model_dump(mode="json"), request, "timeline.json")

    @staticmethod
    def _follow_path(
        ctx: StageContext, request: AnyStageRequest, params: FramingParams, info: VideoInfo
    ) -> tuple[np.ndarray, dict[str, object]]:
        """The virtual camera's window corner per source frame, from the detections (or
        the player's keyframes), and what was followed, for the status."""
        width, height = even(info.display_width), even(info.display_height)
        ratio = params.aspect_ratio
        assert ratio is not None
        win_w, win_h = window_size(width, height, ratio)
        view = CameraView(width, height, win_w, win_h, float(info.fps))
        player = params.player
        key = request.upstream.get(StageName.DETECT, {}).get(Artifact.DETECTIONS)
        if params.follow is Follow.PLAYER and player is not None and player.boxes is not None:
            targets, boxes = keyframe_targets(player.boxes, info.frame_count)
            # Keyframes need no detections; when detect ran anyway, its cuts are free,
            # and the window jumps at them instead of panning across.
            cuts = Detections.model_validate(ctx.bucket.get_json(key).data).shots if key else None
            path = crop_path(targets, view, cuts=cuts, sizes=boxes)
            return path, {}
        if key is None:
            raise StageParamsInvalid("framing.follow needs the detect stage")
        doc = Detections.model_validate(ctx.bucket.get_json(key).data)
        details: dict[str, object] = {}
        sizes = None
        if params.follow is Follow.PLAYER:
            assert player is not None  # the manifest fills it in from the overlay
            picked = pick_track(doc, player)
            targets = picked.centres(doc.video.frame_count)
            # His whole box is kept in the window, not only his centre.
            _, sizes = keyframe_targets(picked.keyframes, doc.video.frame_count)
            details = {"picked": picked.summary(doc.backend)}
        else:
            targets = follow_targets(doc)
        path = crop_path(targets, view, cuts=doc.shots, sizes=sizes)
        return path, details

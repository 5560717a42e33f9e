"""Overlay: a spotlight that follows the highlighted player.

Decodes with PyAV, draws on the yuv420p planes in place, encodes with x264 and
copies the audio packets through untouched (no audio re-encode).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pipeline.core.errors import StageParamsInvalid
from pipeline.core.settings import EncodeProfile
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.codec import VIDEO_CODEC
from pipeline.media.frames import FrameReader, FrameWriter, YuvFrame
from pipeline.media.previews import PREVIEW_SECONDS
from pipeline.media.probe import VideoInfo
from pipeline.render.spotlight import Spotlight
from pipeline.stages.base import (
    AnyStageRequest,
    ProgressFn,
    StageContext,
    StageRequest,
    StageResult,
)
from pipeline.stages.frame_pass import FrameStep, Geometry, PassClock, pass_backend, run_pass
from pipeline.stages.highlight_track import HighlightTrack
from pipeline.stages.player_follow import SEEN
from pipeline.stages.table import Artifact
from pipeline.stages.track_pick import PickedTrack, coverage, pick_track


class OverlayStep:
    """The overlay inside a pass: draw the spotlight on each frame, in place."""

    stage = StageName.OVERLAY

    def __init__(
        self,
        track: HighlightTrack,
        spotlight: Spotlight,
        backend: str,
        picked: PickedTrack | None = None,
        detector: str = "",
        cuts: Sequence[int] = (),
    ) -> None:
        self.track = track
        self.spotlight = spotlight
        self.backend = backend
        self.picked = picked
        self.detector = detector
        self.cuts = tuple(cuts)  # source frames where a new camera shot begins

    def output_geometry(self, incoming: Geometry) -> Geometry:
        """The same frames: it draws on them."""
        return incoming

    def feed(self, frame: YuvFrame) -> Sequence[YuvFrame]:
        """Draw the spotlight where the player is at this frame."""
        track = self.track
        self.spotlight.annotate(frame, track.box_at(frame.index), track.strength_at(frame.index))
        return (frame,)

    def flush(self) -> Sequence[YuvFrame]:
        """Nothing is held."""
        return ()

    def details(self, first: int, frames: int, fps: float) -> dict[str, object]:
        """The picked player and how much of frames ``[first, first + frames)`` he is seen."""
        picked = self.picked
        best = self.best_frame(first, frames)
        shown: dict[str, object] = {}
        if best is not None:
            length = max(1, round(PREVIEW_SECONDS * fps))
            window = self.shot_window(best, first, frames, length)
            shown = {"best_frame": best, "preview_window": list(window)}
        if picked is None:
            return shown
        last = len(picked.seen) - 1
        seen = [
            int(picked.seen[min(max(round(self.track.source_frame(i)), 0), last)])
            for i in range(first, first + frames)
        ]
        return {
            "picked": picked.summary(self.detector),
            "coverage": coverage(seen, fps),
            **shown,
        }

    def shot_window(self, best: int, first: int, frames: int, length: int) -> tuple[int, int]:
        """``[start, end)``: at most ``length`` output frames around ``best``, inside the
        camera shot ``best`` is in (a preview that cuts to another camera shows a
        different scene) and inside ``[first, first + frames)``."""
        shot_of = self._shot_of
        here = shot_of(best)
        low, high = best, best + 1
        while low > first and shot_of(low - 1) == here:
            low -= 1
        while high < first + frames and shot_of(high) == here:
            high += 1
        start = min(max(best - length // 2, low), max(high - length, low))
        return start, min(start + length, high)

    def _shot_of(self, output_frame: int) -> int:
        """How many cuts come at or before the source frame shown at ``output_frame``."""
        source = self.track.source_frame(output_frame)
        return sum(1 for cut in self.cuts if cut <= source)

    def best_frame(self, first: int, frames: int) -> int | None:
        """The output frame where the player is best seen: detected there (not filled in
        between detections) with the largest lit box; None when he is never lit."""
        picked = self.picked
        last = len(picked.seen) - 1 if picked is not None else 0
        best, best_score = None, 0.0
        for i in range(first, first + frames):
            box = self.track.box_at(i)
            if box is None:
                continue
            score = box.w * box.h * self.track.strength_at(i)
            if picked is not None:
                source = min(max(round(self.track.source_frame(i)), 0), last)
                score *= 1.0 if picked.seen[source] == SEEN else 0.25
            if score > best_score:
                best, best_score = i, score
        return best


class OverlayStage:
    """Spotlight one player through the clip."""

    name: ClassVar[StageName] = StageName.OVERLAY
    version: ClassVar[str] = "3"  # 3: the follow compares colours, keeps the clicked point

    def run(self, ctx: StageContext, request: StageRequest[OverlayParams]) -> StageResult:
        """Render the highlight onto ``request.video_key``."""
        source, info = ctx.fetch_video(request.video_key)
        step = self.open_step(ctx, request, self.timeline(ctx, request))
        output = ctx.scratch / "overlay.mp4"
        window = request.frame_window(info) if request.segment else None
        frames = render_highlight(
            source,
            output,
            info,
            step,
            ctx.encode_profile(request),
            ctx.progress,
            window=window,
            encoder=ctx.encoder,
        )
        outputs = {Artifact.VIDEO: ctx.publish(output, request, request.output_name())}
        start, _ = request.frame_window(info)
        details = step.details(start, frames, float(info.fps))
        return StageResult(outputs=outputs, frames=frames, backend=step.backend, details=details)

    def open_step(
        self,
        ctx: StageContext,
        request: StageRequest[OverlayParams],
        timeline: FramingTimeline | None,
        incoming: Geometry | None = None,
    ) -> OverlayStep:
        """The step that draws ``request``'s highlight on frames that ``timeline`` framed
        (None: the source's own frames); it draws on frames of any size."""
        params = request.params
        picked, doc = self._pick(ctx, request, params)
        if picked is None:
            assert params.highlight.boxes is not None
            track = HighlightTrack(params.highlight.boxes, timeline)
        else:
            track = HighlightTrack(picked.keyframes, timeline, picked.strength)
        spotlight = Spotlight(params.style, params.dim)
        backend, cuts = (doc.backend, doc.shots) if doc is not None else ("", [])
        return OverlayStep(track, spotlight, pass_backend(ctx.encoder), picked, backend, cuts)

    @staticmethod
    def _pick(
        ctx: StageContext, request: AnyStageRequest, params: OverlayParams
    ) -> tuple[PickedTrack | None, Detections | None]:
        """The picked player's track and the detections it came from (None, None:
        keyframes were given)."""
        if params.highlight.boxes is not None:
            return None, None
        key = request.upstream.get(StageName.DETECT, {}).get(Artifact.DETECTIONS)
        if key is None:
            raise StageParamsInvalid("a click or track_id highlight needs the detect stage")
        doc = Detections.model_validate(ctx.bucket.get_json(key).data)
        return pick_track(doc, params.highlight), doc

    @staticmethod
    def timeline(ctx: StageContext, request: AnyStageRequest) -> FramingTimeline | None:
        """The framing timeline of an earlier call (None: the frames were not framed)."""
        key = request.upstream.get(StageName.FRAMING, {}).get(Artifact.TIMELINE)
        if key is None:
            return None
        return FramingTimeline.model_validate(ctx.bucket.get_json(key).data)


def render_highlight(
    source: Path,
    output: Path,
    info: VideoInfo,
    step: FrameStep,
    profile: EncodeProfile,
    progress: ProgressFn,
    *,
    window: tuple[int, int] | None = None,
    encoder: str = VIDEO_CODEC,
) -> int:
    """The overlay's frame loop on local files; returns the frames written.

    With a ``window`` (one segment of a parallel run) only those frames are
    rendered, video only, timestamps starting at zero.
    """
    start, end = window or (0, info.frame_count)
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
            encoder=encoder,
        ) as writer,
    ):
        frames = (
            reader.frames(on_audio=writer.mux_audio)
            if window is None
            else reader.frames(start=start, end=end)
        )
        return run_pass(
            frames,
            [step],
            writer,
            total=end - start,
            progress=progress,
            clock=PassClock(),
            head=StageName.OVERLAY,
            first_index=start,
        )

"""Overlay: a spotlight that follows the highlighted player.

Decodes with PyAV, draws on the yuv420p planes in place, encodes with x264 and
copies the audio packets through untouched (no audio re-encode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import av
import cv2
import structlog

from pipeline.core.boxes import Box, Keyframe
from pipeline.core.errors import ReelpipeError, StageParamsInvalid, bounded_message
from pipeline.core.settings import EncodeProfile
from pipeline.detect.shots import scan_cuts
from pipeline.follow.highlight_track import HighlightTrack
from pipeline.follow.pick import PickedTrack, coverage, pick_track
from pipeline.follow.player import FILLED, LOST, SEEN
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import OverlayParams, StageName
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.codec import VIDEO_CODEC
from pipeline.media.frames import FrameReader, FrameWriter, YuvFrame
from pipeline.media.preview_keeper import PosterScore, PreviewKeeper, best_poster
from pipeline.media.previews import preview_length
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
from pipeline.stages.table import Artifact

log = structlog.get_logger(__name__)


class OverlayStep:
    """The overlay inside a pass: draw the spotlight on each frame, in place, and note
    per frame whether the player was lit there and how well he shows (for the status,
    the poster and the preview)."""

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
        # Source frames where a new camera shot begins (the track's own when not given).
        self.cuts = tuple(cuts) if cuts else tuple(track.cuts)
        self._shown: dict[int, _Shown] = {}  # output frame -> how the player was lit there
        self._shots: dict[int, int] = {}  # output frame -> its camera shot (see _shot_of)
        # Set when this pass writes the job's last video: it keeps what the poster and
        # preview may show, so they need no decode of the output afterwards.
        self.keeper: PreviewKeeper | None = None

    def output_geometry(self, incoming: Geometry) -> Geometry:
        """The same frames: it draws on them."""
        return incoming

    def feed(self, frame: YuvFrame) -> Sequence[YuvFrame]:
        """Draw the spotlight where the player is at this frame (nothing where he is not,
        and never outside the frame)."""
        track = self.track
        height, width = frame.y.shape
        box = track.box_at(frame.index)
        box = box.inside(width, height) if box is not None else None
        strength = track.strength_at(frame.index) if box is not None else 0.0
        if box is not None and strength > 0:
            self._shown[frame.index] = _Shown(box.w * box.h, strength, _sharpness(frame, box))
        self.spotlight.annotate(frame, box, strength)
        if self.keeper is not None:
            if self._lit(frame.index):
                shown = self._poster_score(frame.index)
                self.keeper.offer(frame, base=shown.base, sharpness=shown.sharpness)
            else:
                self.keeper.offer(frame, base=0.0, sharpness=None)
        return (frame,)

    def keep_previews(self, frames: int, fps: float) -> None:
        """This pass writes the job's last video (``frames`` frames from 0): keep what
        its poster and preview may show while drawing, so they need no decode of it."""
        length = preview_length(fps)
        self.keeper = PreviewKeeper(fps, lambda best: self.shot_window(best, 0, frames, length))

    def hold_previews(self, video: Path, frames: int, fps: float) -> bool:
        """Make the poster and preview that :meth:`details` names (over ``frames`` frames
        from 0) from the frames kept during the pass, for the cut of ``video`` to take
        (False: it decodes them)."""
        keeper, self.keeper = self.keeper, None
        if keeper is None:
            return False
        best = self.best_frame(0, frames)
        if best is None:
            return False
        window = self.shot_window(best, 0, frames, preview_length(fps))
        try:
            return keeper.hold(video, frames, best, window)
        except (ReelpipeError, av.FFmpegError, OSError) as exc:  # the cut decodes them
            log.warning("pass_previews_failed", error=bounded_message(str(exc), 300))
            return False

    def flush(self) -> Sequence[YuvFrame]:
        """Nothing is held."""
        return ()

    def details(self, first: int, frames: int, fps: float) -> dict[str, object]:
        """For the status, over output frames ``[first, first + frames)``: the picked
        player, per second whether he was ``found``, ``coasted`` or ``lost``
        (``coverage``), the share of frames he was lit (``lit``), and the poster's frame
        and the preview's window."""
        best = self.best_frame(first, frames)
        shown: dict[str, object] = {}
        if best is not None:
            window = self.shot_window(best, first, frames, preview_length(fps))
            shown = {"best_frame": best, "preview_window": list(window)}
        indices = range(first, first + frames)
        lit = sum(1 for i in indices if self._lit(i))
        record: dict[str, object] = {
            "coverage": coverage([self._state(i) for i in indices], fps),
            "lit": round(lit / max(1, frames), 4),
            **shown,
        }
        if self.picked is not None:
            record = {"picked": self.picked.summary(self.detector), **record}
        return record

    def _lit(self, output_frame: int) -> bool:
        """Whether the highlight was drawn at ``output_frame`` (the ring on: half strength)."""
        shown = self._shown.get(output_frame)
        return shown is not None and shown.strength >= RING_STRENGTH

    def _state(self, output_frame: int) -> int:
        """How the player was known at ``output_frame``: SEEN, FILLED (coasted) or LOST."""
        if not self._lit(output_frame):
            return LOST
        if self.picked is None:
            return SEEN  # where the keyframes say he is
        seen = self.picked.seen
        source = min(max(round(self.track.source_frame(output_frame)), 0), len(seen) - 1)
        return int(seen[source])

    def shot_window(self, best: int, first: int, frames: int, length: int) -> tuple[int, int]:
        """``[start, end)``: at most ``length`` output frames around ``best``, inside the
        camera shot ``best`` is in (a preview that cuts to another camera shows a
        different scene) and inside ``[first, first + frames)``."""
        shot_of = self._shot_of
        here = shot_of(best)
        low, high = best, best + 1
        # Looking further than ``length`` either way changes nothing.
        while low > max(first, best - length) and shot_of(low - 1) == here:
            low -= 1
        while high < min(first + frames, best + length) and shot_of(high) == here:
            high += 1
        start = min(max(best - length // 2, low), max(high - length, low))
        return start, min(start + length, high)

    def _shot_of(self, output_frame: int) -> int:
        """How many cuts come at or before the source frame shown at ``output_frame``."""
        shot = self._shots.get(output_frame)
        if shot is None:
            source = self.track.source_frame(output_frame)
            shot = self._shots[output_frame] = sum(1 for cut in self.cuts if cut <= source)
        return shot

    def best_frame(self, first: int, frames: int) -> int | None:
        """The output frame where the player is best seen: lit (never a frame where the
        highlight is empty), found there rather than coasted or interpolated, large and
        sharp; None when he is never lit. Sharpness counts relative to the clip's usual
        (up to twice as much), so a large blurred box does not beat a slightly smaller
        sharp one, nor a tiny sharp one a large box."""
        lit = [i for i in range(first, first + frames) if self._lit(i)]
        return best_poster([self._poster_score(i) for i in lit])

    def _poster_score(self, output_frame: int) -> PosterScore:
        """What a lit frame brings to the poster's choice, known as it is drawn: the
        player's area x strength x how surely he was found there, and his sharpness (it
        weighs in at the end, against the clip's median)."""
        shown = self._shown[output_frame]
        if self.picked is None:
            found = self.track.near_keyframe(output_frame)
        else:
            found = FOUND_WEIGHT.get(self._state(output_frame), 0.0)
        return PosterScore(output_frame, shown.area * shown.strength * found, shown.sharpness)


RING_STRENGTH = 0.5  # the spotlight draws the ring from this strength (it is lit)
FOUND_WEIGHT = {SEEN: 1.0, FILLED: 0.25, LOST: 0.0}  # a poster of him seen, not guessed


@dataclass(frozen=True)
class _Shown:
    """How the player was lit on one output frame."""

    area: float  # of his box, in output pixels
    strength: float
    sharpness: float  # the variance of the Laplacian of the luma inside his box


def _sharpness(frame: YuvFrame, box: Box) -> float:
    """How sharp the picture is inside ``box`` (before anything is drawn on it)."""
    x0, y0 = int(box.x), int(box.y)
    patch = frame.y[y0 : int(box.y + box.h) + 1, x0 : int(box.x + box.w) + 1]
    if patch.shape[0] < 3 or patch.shape[1] < 3:
        return 0.0
    return float(cv2.Laplacian(patch, cv2.CV_32F).var())


class OverlayStage:
    """Spotlight one player through the clip."""

    name: ClassVar[StageName] = StageName.OVERLAY
    # 4: nothing lit across a cut or outside the frame, the ring coasts (coast_s) on a
    # smoothed path, the poster is the player lit
    version: ClassVar[str] = "4"

    def run(self, ctx: StageContext, request: StageRequest[OverlayParams]) -> StageResult:
        """Render the highlight onto ``request.video_key``."""
        source, info = ctx.fetch_video(request.video_key)
        step = self.open_step(ctx, request, self.timeline(ctx, request), source=(source, info))
        output = ctx.scratch / "overlay.mp4"
        window = request.frame_window(info) if request.segment else None
        if request.final and request.segment is None:
            step.keep_previews(info.frame_count, float(info.fps))
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
        step.hold_previews(output, frames, float(info.fps))
        start, _ = request.frame_window(info)
        outputs = {Artifact.VIDEO: ctx.publish(output, request, request.output_name())}
        details = step.details(start, frames, float(info.fps))
        return StageResult(outputs=outputs, frames=frames, backend=step.backend, details=details)

    def open_step(
        self,
        ctx: StageContext,
        request: StageRequest[OverlayParams],
        timeline: FramingTimeline | None,
        incoming: Geometry | None = None,
        *,
        source: tuple[Path, VideoInfo] | None = None,
    ) -> OverlayStep:
        """The step that draws ``request``'s highlight on frames that ``timeline`` framed
        (None: the source's own frames); it draws on frames of any size. ``source`` is
        ``request.video_key`` already fetched (else it is fetched if it must be read)."""
        params = request.params
        doc = self._detections(ctx, request)
        spotlight = Spotlight(params.style, params.dim)
        backend = pass_backend(ctx.encoder)
        if params.highlight.boxes is not None:
            boxes = params.highlight.boxes
            cuts = (
                doc.shots if doc is not None else self._cuts(ctx, request, timeline, boxes, source)
            )
            track = HighlightTrack(boxes, timeline, cuts=cuts)
            return OverlayStep(track, spotlight, backend)
        if doc is None:
            raise StageParamsInvalid("a click or track_id highlight needs the detect stage")
        picked = pick_track(doc, params.highlight, bridge_s=params.coast_s)
        track = HighlightTrack(picked.keyframes, timeline, picked.strength, doc.shots)
        return OverlayStep(track, spotlight, backend, picked, doc.backend)

    @staticmethod
    def _detections(ctx: StageContext, request: AnyStageRequest) -> Detections | None:
        """The detect stage's detections (None: it did not run)."""
        key = request.upstream.get(StageName.DETECT, {}).get(Artifact.DETECTIONS)
        if key is None:
            return None
        return Detections.model_validate(ctx.bucket.get_json(key).data)

    @staticmethod
    def _cuts(
        ctx: StageContext,
        request: AnyStageRequest,
        timeline: FramingTimeline | None,
        boxes: list[Keyframe],
        source: tuple[Path, VideoInfo] | None,
    ) -> list[int]:
        """The cuts (source frames) that box keyframes must not be held across, when no
        detect stage found them: those before the first keyframe and after the last.
        Only those frames of this call are decoded for it (none when the keyframes span
        them); between two keyframes the user's boxes are interpolated as given."""
        path, info = source if source is not None else ctx.fetch_video(request.video_key)
        framing = request.upstream.get(StageName.FRAMING, {}).get(Artifact.VIDEO)
        if timeline is not None and framing == request.video_key:
            # The framed output: its cuts are in output frames, mapped back to the source.
            return sorted({round(timeline.source_frame(c)) for c in scan_cuts(path, info)})
        start, end = request.frame_window(info)
        spans = ((start, min(end, boxes[0][0] + 1)), (max(start, boxes[-1][0]), end))
        return [cut for a, b in spans if b - a > 1 for cut in scan_cuts(path, info, (a, b))]

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

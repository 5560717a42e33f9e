"""The stage contract: configured once, called with a context and a request,
returns the keys it wrote.

    stage = FramingStage()
    result = stage.run(ctx, request)     # result.outputs == {Artifact.VIDEO: "users/.../video.mp4"}

A stage never sees another stage's objects, only keys: the same code runs in
this process, in a local worker or in a Modal function.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import structlog
from pydantic import BaseModel

from pipeline.core.errors import LimitExceeded
from pipeline.core.keys import Layout
from pipeline.core.settings import EncodeProfile, Limits, Settings
from pipeline.manifests.job import StageName
from pipeline.manifests.status import Fence
from pipeline.media.encoders import resolve_encoder
from pipeline.media.probe import PROBES, VideoInfo, probe
from pipeline.stages.table import Artifact
from pipeline.storage.bucket import Bucket
from pipeline.storage.local_files import LOCAL_FILES

log = structlog.get_logger(__name__)

ProgressFn = Callable[[float], None]


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` of a stage's input: part ``index`` of ``count``.

    A segment's worker writes video only (``artifact``); a join call joins the
    parts without re-encoding and muxes the audio once.
    """

    index: int
    count: int
    start: int
    end: int
    overlap: int = 0  # frames before ``start`` also processed, to stitch tracks across

    @property
    def frames(self) -> int:
        """How many frames the segment holds."""
        return self.end - self.start

    @property
    def artifact(self) -> str:
        """The segment's video, e.g. ``segment-002.mp4``."""
        return f"segment-{self.index:03d}.mp4"

    def artifact_named(self, whole: str) -> str:
        """The segment's part of the artifact ``whole``: ``detections-segment-002.json``."""
        stem, _, suffix = whole.rpartition(".")
        return f"{stem}-segment-{self.index:03d}.{suffix}"


@dataclass(frozen=True)
class ProgressShare:
    """A stage's part of the job's progress bar: from ``start``, ``width`` long (fractions
    of the stages' part of the bar), in proportion to the stage's estimated time."""

    start: float = 0.0
    width: float = 1.0

    def at(self, fraction: float) -> float:
        """Where the bar is when the stage is ``fraction`` done."""
        return self.start + self.width * min(max(fraction, 0.0), 1.0)

    @classmethod
    def spanning(cls, first: ProgressShare, last: ProgressShare) -> ProgressShare:
        """The bar from ``first``'s start to ``last``'s end (the stages of a fused pass)."""
        return cls(first.start, last.start + last.width - first.start)

    @property
    def last(self) -> bool:
        """Whether the stage ends the bar (what follows is saving)."""
        return self.start + self.width >= 0.999


def progress_shares(weights: Sequence[float]) -> list[ProgressShare]:
    """Consecutive shares proportional to ``weights`` (equal when they are unknown)."""
    if not all(0 < w < float("inf") for w in weights):  # NaN fails every comparison
        weights = [1.0] * len(weights)
    total = sum(weights)
    shares, start = [], 0.0
    for w in weights:
        shares.append(ProgressShare(start, w / total))
        start += w / total
    return shares


P = TypeVar("P", bound=BaseModel, covariant=True)  # a stage's own parameter model


@dataclass(frozen=True)
class StageRequest(Generic[P]):
    """What one stage is asked to do, with its own parameters (``StageRequest[OverlayParams]``)."""

    user_id: str
    job_id: str
    stage: StageName
    video_key: str  # the video this stage reads: the job's input or the previous stage's
    params: P
    final: bool  # the last stage of the job writes the final encode
    upstream: Mapping[StageName, Mapping[Artifact, str]] = field(default_factory=dict)
    share: ProgressShare = field(default_factory=ProgressShare)  # its part of the job's bar
    segment: Segment | None = None  # part of a parallel run; None: the whole clip
    # The lease this run holds: artifacts go under its epoch, progress writes are fenced.
    fence: Fence | None = None

    def artifact_key(self, layout: Layout, name: str) -> str:
        """Where this run writes the artifact ``name``: under its epoch when it holds a lease."""
        epoch = self.fence.epoch if self.fence is not None else None
        return layout.stage_key(self.user_id, self.job_id, self.stage.value, name, epoch=epoch)

    def output_name(self, whole: str = "video.mp4") -> str:
        """The artifact name of this request's video: ``whole`` or the segment's part."""
        return self.segment.artifact if self.segment else whole

    def frame_window(self, info: VideoInfo) -> tuple[int, int]:
        """The ``[start, end)`` frames this request covers."""
        if self.segment is None:
            return 0, info.frame_count
        return self.segment.start, self.segment.end


AnyStageRequest = StageRequest[Any]  # a request whose stage is known only at run time


@dataclass(frozen=True)
class Join:
    """What a join call does instead of running its stage: join the video ``parts`` its
    segments wrote (in order) into the stage's output; ``shown`` places the job's poster
    and preview (the segments' ``best_frame`` and ``preview_window``)."""

    parts: tuple[str, ...]
    shown: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cut:
    """What a previews call does instead of running its stage: cut the job's poster and
    preview from its stored video ``video_key``, placed by ``shown`` (the overlay's
    ``best_frame`` and ``preview_window``; else the middle)."""

    video_key: str
    shown: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assembly:
    """What a reel's assembly call does (it runs no stage): cut the reel ``reel`` (the
    reel block of its manifest, as JSON) from its clips' finished jobs ``clips`` (their
    statuses as JSON, in the reel's order), and write its files under the reel's job
    ``job_id``, in the run of the reel's lease ``fence`` (their keys under its ``epoch``)."""

    user_id: str
    job_id: str
    reel: Mapping[str, Any]
    clips: tuple[Mapping[str, Any], ...]
    fence: Fence | None = None
    epoch: int = 0


@dataclass(frozen=True)
class Call:
    """Work on one machine: one or more adjacent stages of a job over one frame range.

    A single stage is a call of one, a fused group a call of several (one decode, one
    encode), a segment a call of one stage over its frame range, and a join
    (:class:`Join`) a call of one stage that joins its segments' parts on the join's own
    machine (:data:`pipeline.stages.table.JOIN`); a previews call (:class:`Cut`) cuts the
    job's poster and preview from its stored output (:data:`~pipeline.stages.table.PREVIEWS`),
    and an assembly call (:class:`Assembly`, no stage: ``requests`` is empty) cuts a reel
    from its clips' outputs (:data:`~pipeline.stages.table.REEL_ASSEMBLY`). Runners run calls,
    :func:`pipeline.stages.execute.execute` executes them, and their progress is one
    transition, whatever their shape::

        call = Call.of(framing, overlay)
        call.label, call.share          # "framing+overlay", their joint part of the bar
        parts = Call.of(overlay).split(segments)
    """

    requests: tuple[AnyStageRequest, ...]
    join: Join | None = None  # the parts this call joins, instead of running its stage
    cut: Cut | None = None  # the stored video it cuts previews from, instead of running it
    assembly: Assembly | None = None  # the reel it assembles from its clips' outputs

    def __post_init__(self) -> None:
        if self.assembly is not None:
            if self.requests or self.join is not None or self.cut is not None:
                raise ValueError("an assembly call runs no stage, join or cut")
            return
        if not self.requests:
            raise ValueError("a call runs at least one stage")
        if len(self.requests) > 1 and any(r.segment is not None for r in self.requests):
            raise ValueError("a fused call runs whole stages, never segments")
        step = self.join is not None or self.cut is not None
        if step and (len(self.requests) > 1 or self.segment is not None):
            raise ValueError("a join or previews call serves one whole stage")
        if self.join is not None and self.cut is not None:
            raise ValueError("a call joins parts or cuts previews, not both")

    @classmethod
    def of(cls, *requests: AnyStageRequest) -> Call:
        """The call of ``requests``, in job order."""
        return cls(tuple(requests))

    @classmethod
    def assembling(cls, assembly: Assembly) -> Call:
        """The assembly call of a reel."""
        return cls((), assembly=assembly)

    @property
    def head(self) -> AnyStageRequest:
        """Its first stage's request (the one that reads the call's input)."""
        if not self.requests:
            raise ValueError("an assembly call runs no stage")
        return self.requests[0]

    @property
    def user_id(self) -> str:
        """The user whose job it works for."""
        return self.assembly.user_id if self.assembly is not None else self.head.user_id

    @property
    def job_id(self) -> str:
        """The job it works for (the reel's, for an assembly)."""
        return self.assembly.job_id if self.assembly is not None else self.head.job_id

    @property
    def fence(self) -> Fence | None:
        """The lease of the run it works for: its writes are fenced by it."""
        return self.assembly.fence if self.assembly is not None else self.head.fence

    @property
    def last(self) -> AnyStageRequest:
        """Its last stage's request (the one that writes the call's video)."""
        return self.requests[-1]

    @property
    def stages(self) -> tuple[StageName, ...]:
        """The stages it runs, in order."""
        return tuple(r.stage for r in self.requests)

    @property
    def label(self) -> str:
        """Its stages' names joined: ``framing+overlay`` (its logs and scratch folder)."""
        if self.assembly is not None:
            return "assembly"
        return "+".join(name.value for name in self.stages)

    @property
    def segment(self) -> Segment | None:
        """The frame range it covers; None: the whole clip (or no clip: an assembly)."""
        return self.head.segment if self.requests else None

    @property
    def share(self) -> ProgressShare:
        """Its part of the job's progress bar (its stages advance together: one pass; an
        assembly is the whole of its reel's bar once the clips are made)."""
        if not self.requests:
            return ProgressShare()
        if len(self.requests) == 1:
            return self.head.share
        return ProgressShare.spanning(self.head.share, self.last.share)

    @property
    def attempts_stages(self) -> bool:
        """Whether running it is an attempt at its stages (a segment or a join is part of
        one; an assembly is no stage's)."""
        steps = (self.join, self.cut, self.assembly)
        return self.segment is None and all(step is None for step in steps)

    def joining(self, parts: Sequence[str], shown: Mapping[str, Any]) -> Call:
        """The join of this call of one stage's segment ``parts``."""
        return Call(self.requests, join=Join(tuple(parts), dict(shown)))

    def cutting(self, video_key: str, shown: Mapping[str, Any]) -> Call:
        """The previews call of ``video_key``, for this call's last stage's job and run."""
        return Call((self.last,), cut=Cut(video_key, dict(shown)))

    def split(self, segments: Sequence[Segment]) -> list[Call]:
        """A call of one stage, as one call per segment of its frames."""
        if len(self.requests) != 1:
            raise ValueError("only a call of one stage is split into segments")
        return [Call.of(dataclasses.replace(self.head, segment=s)) for s in segments]


@dataclass(frozen=True)
class StageResult:
    """What a stage wrote and what it used (the ledger prices the use)."""

    outputs: dict[Artifact, str]
    frames: int
    backend: str
    gpu_seconds: float = 0.0
    gpu: str | None = None  # the GPU kind those seconds were on
    cpu_seconds: float = 0.0  # core-seconds: reserved on Modal, used here
    memory_gib_seconds: float = 0.0  # reserved GiB x seconds (0 where nothing is reserved)
    startup_s: float = 0.0  # the container's start before this call, billed with it
    warnings: tuple[str, ...] = ()  # what the stage adjusted rather than refused
    details: Mapping[str, Any] = field(default_factory=dict)  # for the status (JSON-ready)
    # Inside a fused pass: this stage's own seconds of it (None: the whole call was its own).
    busy_s: float | None = None
    # The job's poster and preview, when the call that wrote its last video made them
    # (``{"poster": key, "preview": key}``; empty: a previews call cuts them).
    previews: Mapping[str, str] = field(default_factory=dict)


@dataclass
class StageContext:
    """What a running stage may use: the bucket, settings, scratch space, progress."""

    bucket: Bucket
    settings: Settings
    scratch: Path
    progress: ProgressFn = lambda fraction: None
    # What this call uploaded from its scratch space: key -> the local file.
    published: dict[str, Path] = field(default_factory=dict)

    @property
    def encoder(self) -> str:
        """The H.264 encoder this machine uses (``Settings.video_encoder`` resolved here)."""
        return resolve_encoder(self.settings.video_encoder)

    def encode_profile(self, request: AnyStageRequest) -> EncodeProfile:
        """Final quality for the last stage, near-lossless and cheap before it."""
        s = self.settings
        return s.final_encode if request.final else s.intermediate_encode

    def fetch(self, key: str, name: str) -> Path:
        """Download ``key`` into scratch as ``name``."""
        return self.bucket.download_file(key, self.scratch / name)

    def fetch_video(self, key: str) -> tuple[Path, VideoInfo]:
        """Download and probe the input video, enforcing the configured limits (a version
        already probed in this process, by the planner, is not probed again; one already on
        this machine is read where it is, never modified)."""
        head = self.bucket.head(key)
        check_size(head.size, self.settings.limits)
        identity = (self.bucket.name, key, head.etag)
        suffix = Path(key).suffix or ".mp4"
        # The very bytes may be on this machine already (``process`` uploaded them).
        path = LOCAL_FILES.recall(identity, head.size) or self.fetch(key, f"input{suffix}")
        info = PROBES.get(identity) or PROBES.put(identity, probe(path))
        check_limits(info, self.settings.limits)
        return path, info

    def publish(
        self, path: Path, request: AnyStageRequest, name: str, content_type: str = "video/mp4"
    ) -> str:
        """Upload a stage artifact to ``{root}jobs/{j}/{stage}/run-{n}/{name}``; its key."""
        key = request.artifact_key(self.bucket.layout, name)
        self.bucket.upload_file(path, key, content_type=content_type)
        self.published[key] = path
        return key

    def publish_json(self, data: Any, request: AnyStageRequest, name: str) -> str:
        """Write a JSON stage artifact; returns its key."""
        key = request.artifact_key(self.bucket.layout, name)
        self.bucket.put_json(key, data)
        return key

    def cleanup(self) -> None:
        """Remove the scratch directory."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def check_size(size_bytes: int, limits: Limits) -> None:
    """LimitExceeded when the clip is larger than allowed."""
    if size_bytes > limits.max_clip_bytes:
        raise LimitExceeded(
            f"the clip is {size_bytes / 1e6:.1f} MB; the limit is "
            f"{limits.max_clip_bytes / 1e6:.1f} MB (REELPIPE_MAX_CLIP_BYTES)"
        )


def check_limits(info: VideoInfo, limits: Limits) -> None:
    """LimitExceeded when the clip is longer, bigger in pixels, faster or more work to
    decode than allowed: checked before any job starts (the planner) and again by each
    stage on what it fetched."""
    check_size(info.size_bytes, limits)
    if info.duration_s > limits.max_duration_s:
        raise LimitExceeded(
            f"the clip lasts {info.duration_s:.1f} s; the limit is "
            f"{limits.max_duration_s:.0f} s (REELPIPE_MAX_DURATION_S)"
        )
    if info.width * info.height > limits.max_pixels:
        raise LimitExceeded(
            f"the clip is {info.width}x{info.height}; the limit is {limits.max_pixels} pixels "
            "a frame (REELPIPE_MAX_PIXELS)"
        )
    if info.fps > limits.max_fps:
        raise LimitExceeded(
            f"the clip runs at {float(info.fps):g} fps; the limit is {limits.max_fps:g} fps "
            "(REELPIPE_MAX_FPS)"
        )
    frames = info.decoded_frames
    work = frames * info.width * info.height
    if work > limits.max_decoded_pixels:
        raise LimitExceeded(
            f"the clip decodes to {work:.3g} pixels ({frames} frames of "
            f"{info.width}x{info.height}); the limit is {limits.max_decoded_pixels:.3g} "
            "(REELPIPE_MAX_DECODED_PIXELS)"
        )


PC = TypeVar("PC", bound=BaseModel, contravariant=True)


class Stage(Protocol[PC]):
    """One step of the pipeline, run with its own parameter model ``PC``."""

    name: ClassVar[StageName]
    version: ClassVar[str]

    def run(self, ctx: StageContext, request: StageRequest[PC]) -> StageResult:
        """Read ``request.video_key``, write outputs, return their keys."""
        ...


AnyStage = Stage[Any]  # a stage picked by name at run time

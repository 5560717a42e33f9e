"""The job manifest an app uploads to ``inbox/{user_id}/{request_id}.json``.

A stage runs only if its block is present; the order is always
detect -> framing -> overlay -> upscale. Example::

    {"schema_version": 1, "input_key": "clips/game1.mp4",
     "stages": {
       "framing": {"trim": {"start_s": 2.0, "end_s": 8.0},
                   "crop": {"x": 320, "y": 0, "width": 608, "height": 1080},
                   "speed": [{"start_s": 4.0, "end_s": 6.0, "factor": 0.5}]},
       "overlay": {"highlight": {"boxes": [[0, 600, 300, 80, 200], [60, 700, 310, 80, 200]]},
                   "style": "spotlight"}}}

Times are seconds of the source clip; boxes are ``[frame, x, y, w, h]`` keyframes
in source-frame pixels (upright), interpolated between keyframes.

With detection, the camera and the spotlight follow the action by themselves::

    {"input_key": "clips/game1.mp4",
     "stages": {"framing": {"aspect": "9:16", "follow": "action"},
                "overlay": {"highlight": {"frame": 30, "x": 640, "y": 360}}}}

``detect`` runs first whenever ``follow`` or a click/track highlight needs it
(its block may be given to choose the backend, stride and thresholds).
"""

from __future__ import annotations

import itertools
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from pipeline.core.boxes import Keyframe
from pipeline.core.errors import InvalidKey, InvalidManifest
from pipeline.core.keys import validate_relative_key
from pipeline.manifests.base import WireModel, manifest_object, validated
from pipeline.manifests.bounded_json import (
    MAX_MANIFEST_BYTES,
)

SCHEMA_VERSION = 1
ASPECT = re.compile(r"^[1-9][0-9]{0,2}:[1-9][0-9]{0,2}$")  # width:height, as "9:16"


def _aspect_shape(value: object) -> object:
    # Before the pattern's own check, whose message is the raw regex.
    if isinstance(value, str) and not ASPECT.fullmatch(value):
        raise ValueError("aspect must look like 9:16 (width:height, whole numbers 1-999)")
    return value


# "9:16": said so in words when it is not, and the pattern published in the schema.
Aspect = Annotated[str, Field(pattern=ASPECT.pattern), BeforeValidator(_aspect_shape)]


def _safe_key(key: str) -> str:
    try:
        return validate_relative_key(key)
    except InvalidKey as exc:
        raise ValueError(str(exc)) from None


# A clip's key relative to the user's folder, refused when it could leave it.
ClipKey = Annotated[str, AfterValidator(_safe_key)]


class StageName(StrEnum):
    """The stages, in the order they always run."""

    DETECT = "detect"
    FRAMING = "framing"
    OVERLAY = "overlay"
    UPSCALE = "upscale"


STAGE_ORDER: tuple[StageName, ...] = tuple(StageName)


class TimeRange(WireModel):
    """``[start_s, end_s)`` of the source, in seconds."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be greater than start_s ({self.start_s})")
        return self


class DetectBackend(StrEnum):
    """Which detector runs."""

    AUTO = "auto"  # yolo when REELPIPE_YOLO_WEIGHTS is set, else motion
    YOLO = "yolo"  # players (COCO person) and the ball (COCO sports ball), tracked
    MOTION = "motion"  # moving regions and the action centre; needs no weights


class Click(WireModel):
    """A point on a player: ``x``, ``y`` in source pixels on source frame ``frame``."""

    frame: int = Field(ge=0)
    x: float = Field(ge=0)
    y: float = Field(ge=0)


class DetectParams(WireModel):
    """Find the players and the ball (or the moving regions) in every frame."""

    backend: DetectBackend = DetectBackend.AUTO
    stride: int | None = Field(
        None,
        ge=1,
        le=30,
        description="detect every Nth frame, track in between (default: 2 with yolo; 1 with "
        "motion, whose cost is the decode)",
    )

    def stride_for(self, backend: str) -> int:
        """The stride that applies with ``backend`` (as given, else its default)."""
        if self.stride is not None:
            return self.stride
        return 1 if backend == DetectBackend.MOTION else 2

    confidence: float = Field(0.25, gt=0, lt=1, description="players' minimum confidence")
    ball_confidence: float = Field(0.1, gt=0, lt=1, description="the ball's minimum confidence")
    max_ball_gap_s: float = Field(1.0, ge=0, description="longest ball gap interpolated")
    follow: list[Click] = Field(
        default_factory=list,
        max_length=8,
        description="clicked players also followed by their look in this pass (filled in "
        "from the overlay's and framing's clicks)",
    )


class Trim(TimeRange):
    """Keep ``[start_s, end_s)`` of the source."""


class Crop(WireModel):
    """A fixed crop rectangle in upright source pixels (rounded down to even numbers)."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(ge=16)
    height: int = Field(ge=16)


class Interpolation(StrEnum):
    """How a slowed-down section gets the frames its source does not have."""

    NONE = "none"  # repeat frames (0.5x: every other frame is a copy)
    BLEND = "blend"  # blend the two neighbouring frames (ffmpeg ``framerate``)
    MOTION = "motion"  # motion-compensated interpolation (ffmpeg ``minterpolate`` mci)


class SpeedSegment(TimeRange):
    """Play ``[start_s, end_s)`` of the source at ``factor`` (0.5 = slow motion).

    ``interpolate`` fills a slowed section's new frames: ``blend`` by default
    below 1x; a speed-up only drops frames, whatever it says.
    """

    factor: float = Field(ge=0.125, le=8.0)
    interpolate: Interpolation | None = None

    @property
    def interpolation(self) -> Interpolation:
        """The mode that applies: as given, else ``blend`` when slowed, ``none`` otherwise."""
        if self.factor >= 1.0:
            return Interpolation.NONE
        return self.interpolate or Interpolation.BLEND


class Follow(StrEnum):
    """What a moving crop keeps in the picture."""

    ACTION = "action"  # the ball weighted with nearby players (motion: the moving centre)
    PLAYER = "player"  # one player: ``framing.player``, else the overlay's highlight


class FramingParams(WireModel):
    """Trim, crop and speed changes; all optional (none = a normalising re-encode).

    ``aspect`` crops to that shape (``"9:16"`` for vertical reels): centred, or
    moving with the action (``follow: "action"``) or with one player (``follow:
    "player"``: the one ``player`` names, or when it is not given the overlay's
    highlight). A fixed ``crop`` excludes both.
    """

    trim: Trim | None = None
    crop: Crop | None = None
    aspect: Aspect | None = Field(None, examples=["9:16", "1:1"])
    follow: Follow | None = None
    player: Highlight | None = Field(
        None, description="whom follow 'player' keeps in the picture (default: the overlay's)"
    )
    speed: list[SpeedSegment] = Field(default_factory=list)

    @property
    def aspect_ratio(self) -> float | None:
        """Width over height of ``aspect`` (9:16 when only ``follow`` is given)."""
        if self.aspect is None:
            return 9 / 16 if self.follow is not None else None
        w, h = self.aspect.split(":")
        return int(w) / int(h)

    @model_validator(mode="after")
    def _segments_fit(self) -> FramingParams:
        if self.crop is not None and (self.aspect is not None or self.follow is not None):
            raise ValueError("give either a fixed 'crop' or 'aspect'/'follow', not both")
        if self.player is not None and self.follow is not Follow.PLAYER:
            raise ValueError("'player' is whom follow 'player' keeps in the picture: set both")
        ordered = sorted(self.speed, key=lambda s: s.start_s)
        for before, after in itertools.pairwise(ordered):
            if after.start_s < before.end_s:
                raise ValueError(
                    f"speed segments overlap: [{before.start_s}, {before.end_s}) and "
                    f"[{after.start_s}, {after.end_s})"
                )
        if self.trim is not None:
            for seg in ordered:
                if seg.start_s < self.trim.start_s or seg.end_s > self.trim.end_s:
                    raise ValueError(
                        f"speed segment [{seg.start_s}, {seg.end_s}) lies outside the trim "
                        f"[{self.trim.start_s}, {self.trim.end_s})"
                    )
        return self


KeyframeField = Annotated[Keyframe, Field(description="[frame, x, y, width, height]")]


class Highlight(WireModel):
    """The player to highlight: box keyframes, a click on them, or a detected track.

    Exactly one of: ``boxes`` (keyframes in source frames), ``frame`` + ``x`` +
    ``y`` (a click in source pixels: the track under it), or ``track_id``.
    """

    boxes: list[KeyframeField] | None = Field(None, min_length=1)
    frame: int | None = Field(None, ge=0)
    x: float | None = Field(None, ge=0)
    y: float | None = Field(None, ge=0)
    track_id: int | None = Field(None, ge=0)

    @property
    def needs_detections(self) -> bool:
        """True for a click or a track id (the track comes from detect)."""
        return self.boxes is None

    @model_validator(mode="after")
    def _one_form(self) -> Highlight:
        click = (self.frame, self.x, self.y)
        forms = [
            self.boxes is not None,
            any(v is not None for v in click),
            self.track_id is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "give exactly one of 'boxes', a click ('frame', 'x', 'y') or 'track_id'"
            )
        if forms[1] and any(v is None for v in click):
            raise ValueError("a click needs all of 'frame', 'x' and 'y'")
        return self

    @field_validator("boxes")
    @classmethod
    def _keyframes_valid(cls, boxes: list[Keyframe] | None) -> list[Keyframe] | None:
        if boxes is None:
            return None
        previous = -1
        for i, (frame, _x, _y, w, h) in enumerate(boxes):
            if frame < 0:
                raise ValueError(f"row {i}: frame must be >= 0")
            if frame <= previous:
                raise ValueError(f"row {i}: frames must be strictly increasing")
            if w <= 0 or h <= 0:
                raise ValueError(f"row {i}: width and height must be > 0")
            previous = frame
        return boxes


class OverlayStyle(StrEnum):
    """How the highlighted player is shown."""

    SPOTLIGHT = "spotlight"  # darken outside a soft ellipse, plus the ring at the feet
    RING = "ring"  # only the ring at the feet


class OverlayParams(WireModel):
    """Highlight one player through the clip."""

    highlight: Highlight
    style: OverlayStyle = OverlayStyle.SPOTLIGHT
    dim: float = Field(0.4, ge=0.0, le=1.0, description="brightness kept outside the spotlight")
    coast_s: float = Field(
        1.0,
        ge=0.0,
        le=5.0,
        description="while a followed player is hidden, the ring coasts on his predicted "
        "path for up to this long, then stops (the status says: coasted, then lost)",
    )


class UpscaleBackend(StrEnum):
    """Which upscaler runs."""

    AUTO = "auto"  # the model when REELPIPE_UPSCALE_WEIGHTS is set, else classical
    MODEL = "model"
    CLASSICAL = "classical"


class UpscaleParams(WireModel):
    """Make the reel ``scale`` times larger."""

    scale: Literal[2, 4] = 2
    backend: UpscaleBackend = UpscaleBackend.AUTO


FramingParams.model_rebuild()


class Stages(WireModel):
    """The stage blocks; a stage runs only if its block is present."""

    detect: DetectParams | None = None
    framing: FramingParams | None = None
    overlay: OverlayParams | None = None
    upscale: UpscaleParams | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Stages:
        if all(getattr(self, name.value) is None for name in STAGE_ORDER):
            raise ValueError(
                "no stage requested: add a 'detect', 'framing', 'overlay' or 'upscale' block"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _followed_player(cls, data: Any) -> Any:
        """``follow: "player"`` without a ``player`` follows the overlay's highlight."""
        if not isinstance(data, dict):
            return data
        framing, overlay = data.get("framing"), data.get("overlay")
        if isinstance(framing, FramingParams):
            follow, player = framing.follow, framing.player
        elif isinstance(framing, dict):
            follow, player = framing.get("follow"), framing.get("player")
        else:
            return data
        if follow != Follow.PLAYER or player is not None:
            return data
        highlight = (
            overlay.highlight
            if isinstance(overlay, OverlayParams)
            else overlay.get("highlight")
            if isinstance(overlay, dict)
            else None
        )
        if highlight is None:
            raise ValueError(
                "framing.follow 'player' needs 'framing.player' (a click or track_id) or an "
                "overlay highlight to follow"
            )
        if isinstance(framing, FramingParams):
            framing = framing.model_copy(update={"player": Highlight.model_validate(highlight)})
        else:
            framing = {**framing, "player": highlight}
        return {**data, "framing": framing}

    @property
    def needs_detect(self) -> bool:
        """True when a later stage uses detections (``follow``, a click or a track id)."""
        framing = self.framing
        follows = framing is not None and framing.follow is not None
        if framing is not None and framing.follow is Follow.PLAYER and framing.player is not None:
            follows = framing.player.needs_detections  # keyframes need no detections
        picks = self.overlay is not None and self.overlay.highlight.needs_detections
        return follows or picks

    def requested(self) -> list[StageName]:
        """The stages to run, in order (detect added when a later stage needs it)."""
        wanted = [name for name in STAGE_ORDER if getattr(self, name.value) is not None]
        if self.needs_detect and StageName.DETECT not in wanted:
            wanted.insert(0, StageName.DETECT)
        return wanted

    def clicks(self) -> list[Click]:
        """The clicked players later stages follow (the overlay's, framing's), once each."""
        found: list[Click] = []
        highlights = [
            self.overlay.highlight if self.overlay is not None else None,
            self.framing.player if self.framing is not None else None,
        ]
        for h in highlights:
            if h is not None and h.frame is not None and h.x is not None and h.y is not None:
                click = Click(frame=h.frame, x=h.x, y=h.y)
                if click not in found:
                    found.append(click)
        return found

    def params_for(self, name: StageName) -> WireModel:
        """The parameters ``name`` runs with (defaults for an added detect, which also
        follows the clicked players by their look)."""
        params = getattr(self, name.value)
        if name is StageName.DETECT:
            detect = params if params is not None else DetectParams()
            assert isinstance(detect, DetectParams)
            clicks = self.clicks()
            if clicks and not detect.follow:
                return detect.model_copy(update={"follow": clicks})
            return detect
        if params is None:
            raise KeyError(f"stage {name.value} was not requested")
        assert isinstance(params, WireModel)
        return params


class CallbackEvent(StrEnum):
    """What a callback may tell: the job's end, or its progress (at most every 5 s)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PROGRESS = "progress"


MAX_CALLBACK_URL = 2048


class Notify(WireModel):
    """Where to send signed callbacks (Standard Webhooks), and for which events."""

    url: str = Field(max_length=MAX_CALLBACK_URL, description="an https:// URL of the app's")
    events: list[CallbackEvent] = Field(
        default_factory=lambda: [CallbackEvent.SUCCEEDED, CallbackEvent.FAILED],
        min_length=1,
        max_length=4,
    )

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("https", "http") or not rest:
            raise ValueError(f"{url[:80]!r} is not an https:// URL")
        if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
            raise ValueError("the URL contains spaces or control characters")
        return url


class JobManifest(WireModel):
    """What an app asks reelpipe to do with one clip."""

    schema_version: Literal[1] = 1
    input_key: ClipKey | None = Field(
        None, description="the clip, relative to users/{user_id}/ (filled in by `process`)"
    )
    stages: Stages
    notify: Notify | None = Field(None, description="signed callbacks when the job ends")


def parse_job_manifest(
    raw: bytes | str | dict[str, Any], *, max_bytes: int = MAX_MANIFEST_BYTES
) -> JobManifest:
    """Parse a manifest document; any problem raises InvalidManifest naming the fields.

    The size and nesting depth are checked before parsing, and any other error
    while loading or validating becomes InvalidManifest too: a manifest can
    fail its job, never the worker that reads it.
    """
    data = manifest_object(raw, max_bytes=max_bytes)
    if not data:
        raise InvalidManifest("the manifest is empty: it needs at least a 'stages' block")
    return validated(JobManifest, data, "manifest")

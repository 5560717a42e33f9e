"""A reel manifest: many clips in, one reel out.

Uploaded to the inbox like a job manifest, with a ``reel`` block instead of
``stages``: the clips in order, each with the moments to keep (time ranges, or
``"auto"``: found by themselves) and the stage blocks a job takes (framing,
overlay with a click, upscale); then what holds for the whole reel.

    {"schema_version": 1,
     "reel": {"clips": [{"input_key": "clips/a.mp4", "moments": [{"start_s": 2, "end_s": 6}],
                         "stages": {"overlay": {"highlight": {"frame": 40, "x": 300, "y": 200}}}},
                        {"input_key": "clips/b.mp4", "moments": "auto"}],
              "aspect": "9:16", "transition": {"kind": "crossfade", "duration_s": 0.5},
              "max_duration_s": 30, "loudness_lufs": -14}}

A player's reel names the click once (``"player": {"clip": 0, "frame": 40, "x": 300,
"y": 200}``): that clip lights and follows him, every clip is detected, the moments
kept are those he is in and part of, and the status offers the tracks of the other
clips that look like him (``player_offers``). An app asks its user, and a new upload
with a clip's ``"player": {"confirmed_track": {...offer...}}`` follows him there too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.core.errors import InvalidManifest
from pipeline.manifests.base import WireModel, manifest_object, validated
from pipeline.manifests.bounded_json import (
    MAX_JSON_DEPTH,
    MAX_MANIFEST_BYTES,
    JsonRefused,
    loads_bounded,
)
from pipeline.manifests.job import Aspect, ClipKey, Highlight, Notify, Stages, TimeRange

MAX_CLIPS = 50
MAX_REEL_S = 600.0


class TransitionKind(StrEnum):
    """How one moment gives way to the next."""

    CUT = "cut"
    CROSSFADE = "crossfade"


class Transition(WireModel):
    """A cut, or a crossfade of ``duration_s`` (on the picture and the sound alike)."""

    kind: TransitionKind = TransitionKind.CUT
    duration_s: float = Field(0.5, gt=0, le=2.0, description="a crossfade's length")

    @property
    def overlap_s(self) -> float:
        """How long two moments overlap at a join (0 for a cut)."""
        return self.duration_s if self.kind is TransitionKind.CROSSFADE else 0.0


BoxField = Annotated[
    tuple[float, float, float, float], Field(description="[x, y, width, height], source pixels")
]


class ConfirmedTrack(WireModel):
    """An offered track the user confirmed is the reel's player (the offer, as given)."""

    track_id: int = Field(ge=0, description="the offer's track id in this clip's detections")
    frame: int = Field(ge=0, description="a source frame the track is seen on")
    box: BoxField
    score: float | None = Field(None, description="the offer's score (kept as given)")

    def click(self) -> Highlight:
        """A click on the track's box (the follow then keeps him whatever his ids)."""
        x, y, w, h = self.box
        return Highlight(frame=self.frame, x=max(0.0, x + w / 2), y=max(0.0, y + h / 2))


class ClipPlayer(WireModel):
    """Who the reel's player is in this clip: a track offered and confirmed."""

    confirmed_track: ConfirmedTrack


class ReelPlayer(WireModel):
    """The reel's player: a click on him in one of its clips (source pixels and frame)."""

    clip: int = Field(ge=0, description="the clip clicked in, by position in reel.clips")
    frame: int = Field(ge=0)
    x: float = Field(ge=0)
    y: float = Field(ge=0)

    def click(self) -> Highlight:
        return Highlight(frame=self.frame, x=self.x, y=self.y)


class ReelClip(WireModel):
    """One clip of the reel: where it is, the moments kept of it, its stages."""

    input_key: ClipKey | None = Field(
        None, description="the clip, relative to users/{user_id}/ (filled in by `process`)"
    )
    moments: list[TimeRange] | Literal["auto"] = Field(
        "auto", description="time ranges of the clip to keep, or 'auto' (found by themselves)"
    )
    stages: Stages | None = Field(
        None, description="the clip's stages (none: its moments are cut from it as it is)"
    )
    player: ClipPlayer | None = Field(
        None, description="the reel's player in this clip, once an offer is confirmed"
    )

    @field_validator("moments")
    @classmethod
    def _some_moments(cls, moments: list[TimeRange] | str) -> list[TimeRange] | str:
        if isinstance(moments, list) and not moments:
            raise ValueError("moments needs at least one range, or 'auto'")
        return moments


class Reel(WireModel):
    """The clips in order and what holds for the whole reel."""

    clips: list[ReelClip] = Field(min_length=1, max_length=MAX_CLIPS)
    aspect: Aspect | None = Field(
        None, examples=["9:16"], description="the reel's shape (each clip framed to it)"
    )
    transition: Transition = Field(default_factory=Transition)
    max_duration_s: float | None = Field(
        None, gt=0, le=MAX_REEL_S, description="the reel's longest length"
    )
    loudness_lufs: float = Field(-14.0, ge=-40, le=-5, description="integrated loudness")
    true_peak_db: float = Field(-1.0, ge=-9, le=0, description="the true peak's ceiling, dBTP")
    max_moments: int = Field(5, ge=1, le=50, description="moments found per 'auto' clip")
    moment_s: float = Field(6.0, ge=1.0, le=30.0, description="an 'auto' moment's length")
    player: ReelPlayer | None = Field(
        None, description="a player's reel: the click on him (only his moments are kept)"
    )

    def highlight_of(self, index: int) -> Highlight | None:
        """The player clip ``index`` lights: its overlay's, the reel's click when it is
        that clip's, or its confirmed track; None when it lights nobody."""
        clip = self.clips[index]
        if clip.stages is not None and clip.stages.overlay is not None:
            return clip.stages.overlay.highlight
        if self.player is not None and self.player.clip == index:
            return self.player.click()
        if clip.player is not None:
            return clip.player.confirmed_track.click()
        return None

    @model_validator(mode="after")
    def _player_named_once(self) -> Reel:
        if self.player is not None and self.player.clip >= len(self.clips):
            raise ValueError(
                f"player.clip {self.player.clip}: the reel has {len(self.clips)} clips "
                "(count from 0)"
            )
        for i, clip in enumerate(self.clips):
            lit = clip.stages is not None and clip.stages.overlay is not None
            clicked = self.player is not None and self.player.clip == i
            if sum((lit, clicked, clip.player is not None)) > 1:
                raise ValueError(
                    f"clips[{i}]: the player is named twice (give one of the clip's overlay "
                    "highlight, reel.player on it, or its confirmed_track)"
                )
        return self

    @model_validator(mode="after")
    def _moments_outlast_the_crossfade(self) -> Reel:
        overlap = self.transition.overlap_s
        if len(self.clips) == 1 and self.clips[0].moments == "auto":
            return self
        shortest = [
            (i, m)
            for i, clip in enumerate(self.clips)
            if isinstance(clip.moments, list)
            for m in clip.moments
            if m.end_s - m.start_s <= overlap
        ]
        if shortest:
            i, m = shortest[0]
            raise ValueError(
                f"clips[{i}]: the moment [{m.start_s:g}, {m.end_s:g}) is no longer than the "
                f"{overlap:g} s crossfade"
            )
        if self.moment_s <= overlap:
            raise ValueError(f"moment_s ({self.moment_s:g}) must outlast the crossfade")
        return self


class ReelManifest(WireModel):
    """What an app asks reelpipe to make of many clips: one reel."""

    schema_version: Literal[1] = 1
    reel: Reel
    notify: Notify | None = Field(None, description="signed callbacks when the reel ends")


class ReelClipStatus(WireModel):
    """How one clip of a reel went: its job (none when it had no stages) and what it made."""

    input_key: str
    job_id: str | None = None
    state: str
    output_key: str | None = None
    cost_usd: float | None = None
    error: str | None = None


class ReelPieceStatus(WireModel):
    """A moment put in the reel: its clip (by position), its span in what the clip
    rendered, where the reel shows it, and why it was kept."""

    clip: int
    start_s: float
    end_s: float
    reel_start_s: float
    reasons: list[str] = Field(default_factory=list)


class PlayerOffer(WireModel):
    """A track of another clip that looks like the reel's player: for the user to confirm
    (put it back as that clip's ``player.confirmed_track``), never followed unasked."""

    clip: int = Field(description="the clip, by position in reel.clips")
    track_id: int
    score: float = Field(description="how alike their colours are: 1 the same, 0 nothing shared")
    frame: int = Field(description="the source frame the track looks most like him on")
    box: BoxField


class ReelStatus(WireModel):
    """``status.json`` of a reel: its state, each clip's job, the pieces and the cost."""

    schema_version: Literal[1] = 1
    state: str
    clips: list[ReelClipStatus]
    pieces: list[ReelPieceStatus] = Field(default_factory=list)
    frames: int | None = None
    duration_s: float | None = None
    loudness_lufs: float
    cost_usd: float = 0.0
    timings: dict[str, float] = Field(default_factory=dict)
    player_offers: list[PlayerOffer] = Field(
        default_factory=list, description="a player's reel: other clips' tracks like him"
    )
    error: str | None = None


def is_reel_document(raw: bytes) -> bool:
    """Whether an uploaded manifest is a reel's (a JSON object with a ``reel`` block); a
    document that is not even JSON is left to the job manifest's parser to explain."""
    try:
        data = loads_bounded(
            raw, max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_JSON_DEPTH, what="the manifest"
        )
    except JsonRefused:
        return False
    return isinstance(data, dict) and "reel" in data


def parse_reel_manifest(
    raw: bytes | str | dict[str, Any], *, max_bytes: int = MAX_MANIFEST_BYTES
) -> ReelManifest:
    """Parse a reel manifest; any problem raises InvalidManifest naming the fields."""
    data = manifest_object(raw, max_bytes=max_bytes)
    if "reel" not in data:
        raise InvalidManifest("a reel manifest is a JSON object with a 'reel' block")
    return validated(ReelManifest, data, "reel manifest")

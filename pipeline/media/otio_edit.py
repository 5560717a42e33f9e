"""A reel's edit as OpenTimelineIO (``timeline.otio``), for an editor to take over.

One video track and one audio track of clips, each naming its source by its
bucket key (never a worker's path) with the frames kept of it; a crossfade is a
``SMPTE_Dissolve`` transition centred on the cut, the frames it overlaps taken
from the clips' handles, so the track lasts exactly as long as the rendered
reel; a speed change is a ``LinearTimeWarp``; the crop and the moment's score
are metadata under ``reelpipe``; a marker stands at each moment and at the
click.

:func:`rendered_pieces` reads a timeline back into the pieces it was made
from: rendering those again gives the same cut points, frame for frame.

Example::

    edit = [EditPiece("clips/a.mp4", 60, 180), EditPiece("clips/b.mp4", 0, 90)]
    timeline = reel_timeline("game 12", edit, Fraction(30), crossfade=15)
    write(timeline, Path("timeline.otio"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from pipeline.manifests.timeline import FramingTimeline

METADATA = "reelpipe"


@dataclass(frozen=True)
class EditMarker:
    """A named point of a piece: a moment's peak, the click (frames, the piece's own)."""

    frame: int
    name: str


@dataclass(frozen=True)
class EditPiece:
    """Frames ``[start, end)`` of the source at ``source_key`` (at the reel's rate), how
    fast it plays, and what an editor should know of it."""

    source_key: str
    start: int
    end: int
    speed: float = 1.0
    played: int | None = None  # frames the track plays it for (default: its frames / speed)
    source_frames: int | None = None  # the whole source's length, when known
    crop: tuple[int, int, int, int] | None = None  # x, y, width, height in source pixels
    markers: tuple[EditMarker, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def reel_timeline(
    name: str, pieces: Sequence[EditPiece], fps: Fraction, crossfade: int = 0
) -> otio.schema.Timeline:
    """The timeline of ``pieces`` joined by cuts, or by crossfades of ``crossfade``
    frames (at ``fps``)."""
    rate = float(fps)
    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = otio.opentime.RationalTime(0, rate)
    for kind in (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio):
        track = otio.schema.Track(name=kind, kind=kind)
        for i, piece in enumerate(pieces):
            head = _head(i, crossfade)
            tail = _tail(i, len(pieces), crossfade)
            if head:
                track.append(_dissolve(crossfade, rate))
            track.append(_clip(piece, head, tail, rate))
        timeline.tracks.append(track)
    return timeline


def job_timeline(
    name: str, source_key: str, source_fps: Fraction, timeline: FramingTimeline | None, frames: int
) -> otio.schema.Timeline:
    """One job's edit: the source's pieces framing kept (each at its speed, a
    ``LinearTimeWarp`` where it is not 1, the crop as metadata), or the whole clip
    (``frames`` frames) when framing did not run."""
    rate = float(source_fps)
    if timeline is None:
        whole = EditPiece(source_key, 0, frames, source_frames=frames)
        return reel_timeline(name, [whole], source_fps)
    crop = timeline.crop
    window = (crop.x, crop.y, crop.width, crop.height)
    moving = {"crop_moves": bool(timeline.crop_path)}
    pieces, played_until = [], 0.0
    for piece in timeline.pieces:
        start, end = round(piece.source_start_s * rate), round(piece.source_end_s * rate)
        begin, played_until = played_until, played_until + piece.output_duration_s
        played = round(played_until * rate) - round(begin * rate)  # rounding never adds up
        if end <= start or played <= 0:
            continue
        pieces.append(
            EditPiece(
                source_key,
                start,
                end,
                speed=piece.factor,
                played=played,
                source_frames=frames,
                crop=window,
                metadata={**moving, "interpolate": piece.interpolate},
            )
        )
    return reel_timeline(name, pieces, source_fps)


# The other formats written beside timeline.otio, by OTIO's adapters: Final Cut Pro 7
# XML (Premiere and Resolve import it) and a CMX 3600 EDL (any editor).
EXPORTS = {"fcp_xml": ".xml", "cmx_3600": ".edl"}


def write(timeline: otio.schema.Timeline, path: Path) -> None:
    """``timeline`` as OTIO JSON at ``path``."""
    otio.adapters.write_to_file(timeline, str(path), adapter_name="otio_json")


def write_exports(timeline: otio.schema.Timeline, path: Path) -> dict[str, Path]:
    """``timeline`` in each of :data:`EXPORTS` beside ``path`` (its suffix replaced), by
    format name; a format whose adapter is not installed is left out."""
    written = {}
    available = set(otio.adapters.available_adapter_names())
    for adapter, suffix in EXPORTS.items():
        if adapter not in available:
            continue
        target = path.with_suffix(suffix)
        edit = _video_only(timeline) if adapter == "cmx_3600" else timeline
        otio.adapters.write_to_file(edit, str(target), adapter_name=adapter)
        written[adapter] = target
    return written


def _video_only(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The timeline with its video track alone (an EDL holds one track)."""
    copy: otio.schema.Timeline = timeline.deepcopy()
    for track in [t for t in copy.tracks if t.kind != otio.schema.TrackKind.Video]:
        copy.tracks.remove(track)
    return copy


def read(path: Path) -> otio.schema.Timeline:
    """The timeline at ``path``."""
    timeline: otio.schema.Timeline = otio.adapters.read_from_file(
        str(path), adapter_name="otio_json"
    )
    return timeline


def rendered_pieces(timeline: otio.schema.Timeline) -> tuple[list[EditPiece], int]:
    """The pieces the video track renders (their frames with the crossfades' handles put
    back) and the crossfade's length in frames (0: cuts)."""
    track = timeline.video_tracks()[0]
    items = list(track)
    pieces, crossfade = [], 0
    for i, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        before = items[i - 1] if i > 0 else None
        after = items[i + 1] if i + 1 < len(items) else None
        # Before its cut a clip plays under the fade into it (the fade's in_offset), after
        # the next cut under the fade out of it (that fade's out_offset).
        head = _frames(before.in_offset) if isinstance(before, otio.schema.Transition) else 0
        tail = _frames(after.out_offset) if isinstance(after, otio.schema.Transition) else 0
        if isinstance(after, otio.schema.Transition):
            crossfade = _frames(after.in_offset) + _frames(after.out_offset)
        visible = item.source_range
        speed = 1.0
        for effect in item.effects:
            if isinstance(effect, otio.schema.LinearTimeWarp):
                speed *= effect.time_scalar
        start = _frames(visible.start_time) - head
        end = _frames(visible.start_time) + round(_frames(visible.duration) * speed) + tail
        own = dict(item.metadata.get(METADATA, {}))
        source_key = item.media_reference.target_url
        pieces.append(EditPiece(source_key, start, end, metadata=own))
    return pieces, crossfade


def cut_points(timeline: otio.schema.Timeline) -> list[int]:
    """The reel frame of each cut of the video track (a crossfade's centre)."""
    track = timeline.video_tracks()[0]
    points, at = [], 0
    for item in track:
        if isinstance(item, otio.schema.Clip):
            at += _frames(item.source_range.duration)
            points.append(at)
    return points[:-1]


def _head(i: int, crossfade: int) -> int:
    """Frames of piece ``i`` shown before its cut, under the crossfade into it."""
    return crossfade // 2 if i > 0 and crossfade else 0


def _tail(i: int, count: int, crossfade: int) -> int:
    """Frames of piece ``i`` shown after the cut out of it, under the crossfade."""
    return crossfade - crossfade // 2 if i < count - 1 and crossfade else 0


def _dissolve(crossfade: int, rate: float) -> otio.schema.Transition:
    # The cut sits after crossfade // 2 frames of the fade: the incoming clip's head
    # handle (in_offset, before the cut) and the outgoing clip's tail (out_offset).
    return otio.schema.Transition(
        name="crossfade",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=otio.opentime.RationalTime(crossfade // 2, rate),
        out_offset=otio.opentime.RationalTime(crossfade - crossfade // 2, rate),
    )


def _clip(piece: EditPiece, head: int, tail: int, rate: float) -> otio.schema.Clip:
    """The piece's clip: its visible range leaves ``head`` frames before it and ``tail``
    after it to the crossfades around it."""
    start, end = piece.start + head, piece.end - tail
    if end <= start:
        raise ValueError(f"{piece.source_key}: frames [{piece.start}, {piece.end}) hold no cut")
    # The range starts in the source's time and lasts as long as the track plays it (a
    # piece at half speed lasts twice its source frames), as OTIO's adapters read it.
    played = piece.played if piece.played is not None else round((end - start) / piece.speed)
    visible = otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(played, rate)
    )
    reference = otio.schema.ExternalReference(target_url=piece.source_key)
    if piece.source_frames is not None:  # what an editor may trim out to (FCP XML needs it)
        reference.available_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate),
            otio.opentime.RationalTime(piece.source_frames, rate),
        )
    metadata: dict[str, Any] = {**piece.metadata}
    if piece.crop is not None:
        metadata["crop"] = dict(zip(("x", "y", "width", "height"), piece.crop, strict=True))
    clip = otio.schema.Clip(
        name=Path(piece.source_key).name,
        media_reference=reference,
        source_range=visible,
        metadata={METADATA: metadata},
    )
    if piece.speed != 1.0:
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=piece.speed))
    for marker in piece.markers:
        at = otio.opentime.TimeRange(
            otio.opentime.RationalTime(marker.frame, rate), otio.opentime.RationalTime(0, rate)
        )
        clip.markers.append(otio.schema.Marker(name=marker.name, marked_range=at))
    return clip


def _frames(time: otio.opentime.RationalTime) -> int:
    return round(float(time.value))

"""A reel cut from its clips' rendered files: their moments chosen, the pieces assembled,
the edit and the reel's status written (for ``process`` and for a reel from the inbox).

Each clip's moments are the ranges its manifest names (mapped through framing's
timeline onto the job's output when framing trimmed or re-timed it), or the best
found by themselves in what the job made (:mod:`pipeline.detect.moments`), within
the reel's length. The pieces are assembled in one pass
(:mod:`pipeline.media.reel_assembly`: cut or crossfade, loudness matched) and the
edit written as OpenTimelineIO (with FCP XML and EDL exports) beside the reel, with
the reel's status.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from pipeline.detect.moments import FoundMoment, MomentOptions, find_moments, fit_within
from pipeline.jobs.job_edit import EXPORT_LABELS
from pipeline.jobs.reel_player import PlayerFrames, offers_in, player_look, player_moments
from pipeline.manifests.detections import Detections
from pipeline.manifests.job import Follow, FramingParams, Highlight
from pipeline.manifests.reel import (
    PlayerOffer,
    Reel,
    ReelClip,
    ReelClipStatus,
    ReelPieceStatus,
    ReelStatus,
)
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.manifests.timeline import FramingTimeline
from pipeline.media.loudness import LoudnessTarget
from pipeline.media.otio_edit import EditMarker, EditPiece, reel_timeline, write, write_exports
from pipeline.media.previews import PREVIEW_SECONDS, preview_window, write_poster, write_preview
from pipeline.media.probe import VideoInfo
from pipeline.media.reel_assembly import Piece, ReelFormat, Shown, assemble
from pipeline.storage.bucket import Bucket


@dataclass(frozen=True)
class ProcessedReel:
    """What a processed reel left: its status and the local files."""

    status: ReelStatus
    paths: dict[str, Path]  # "status" always; "output", "timeline", "poster", "preview"


@dataclass(frozen=True)
class RenderedClip:
    """One clip of the reel as it will be cut: the file, its facts, where it came from."""

    clip: ReelClip
    path: Path
    info: VideoInfo
    source_key: str  # the bucket key of what was rendered (the job's output or the clip)
    timeline: FramingTimeline | None
    status: ReelClipStatus
    coverage: tuple[str, ...] = ()  # per second of the file: the lit player found/coasted/lost
    detections: Detections | None = None  # its job's detect, when it ran
    highlight: Highlight | None = None  # the player it lights (see Reel.highlight_of)


def player_coverage(status: StatusManifest) -> tuple[str, ...]:
    """Per second of the job's output, whether the player its overlay lit was there
    (``found``, ``coasted``, ``lost``); empty when it lit nobody."""
    for record in status.stages.values():
        seconds = record.details.get("coverage")
        if isinstance(seconds, list) and all(isinstance(s, str) for s in seconds):
            return tuple(seconds)
    return ()


def stages_for(reel: Reel, index: int) -> dict[str, Any] | None:
    """Clip ``index``'s job's stages: its own; an overlay lighting the reel's player where
    the clip has him (the reel's click on it, or a confirmed track); a detect where a
    player's reel does not know him yet (its tracks are offered); framed to the reel's
    aspect when it names one and the clip has no framing of its own (the window
    following the lit player, else the action when it detects, else the centre). None
    when there is nothing to run."""
    clip = reel.clips[index]
    stages = clip.stages.model_dump(mode="json", exclude_none=True) if clip.stages else {}
    highlight = reel.highlight_of(index)
    if highlight is not None and "overlay" not in stages:
        stages["overlay"] = {"highlight": highlight.model_dump(mode="json", exclude_none=True)}
    elif highlight is None and reel.player is not None and "detect" not in stages:
        stages["detect"] = {}
    if reel.aspect is not None and "framing" not in stages:
        follow = None
        if "overlay" in stages:
            follow = Follow.PLAYER  # the manifest gives framing the overlay's highlight
        elif "detect" in stages:
            follow = Follow.ACTION
        framing = FramingParams(aspect=reel.aspect, follow=follow)
        stages["framing"] = framing.model_dump(mode="json", exclude_none=True)
    return stages or None


def detections_of(bucket: Bucket, status: StatusManifest) -> Detections | None:
    """The detections the clip's job made (None when it did not detect)."""
    for record in status.stages.values():
        key = record.outputs.get("detections")
        if key:
            return Detections.model_validate(bucket.get_json(key).data)
    return None


def timeline_of(bucket: Bucket, status: StatusManifest) -> FramingTimeline | None:
    for record in status.stages.values():
        key = record.outputs.get("timeline")
        if key:
            return FramingTimeline.model_validate(bucket.get_json(key).data)
    return None


def _moments(done: RenderedClip, reel: Reel) -> list[FoundMoment]:
    """The clip's moments in its rendered file's time: the manifest's ranges (mapped
    through framing), or the best found by themselves."""
    length = done.info.frame_count / float(done.info.fps)
    if done.clip.moments == "auto":
        lit = _followed(done)
        if not lit and not done.coverage:
            if reel.player is not None:
                return []  # a player's reel: he is not known in this clip (see its offers)
            options = MomentOptions(moment_s=reel.moment_s, max_moments=reel.max_moments)
            return find_moments(done.path, done.info, options)
        # A player's clip: more candidates, then only those he is in, ranked up by it.
        options = MomentOptions(moment_s=reel.moment_s, max_moments=3 * reel.max_moments)
        found = find_moments(done.path, done.info, options)
        if done.highlight is not None and done.detections is not None and lit:
            frames = PlayerFrames.of(done.detections, done.highlight)
            return player_moments(found, frames, done.timeline)[: reel.max_moments]
        return moments_with_the_player(found, done.coverage)[: reel.max_moments]
    out = []
    for moment in done.clip.moments:
        start, end = moment.start_s, moment.end_s
        if done.timeline is not None:
            start, end = _output_span(done.timeline, start, end)
        start, end = max(0.0, start), min(end, length)
        if end > start:
            out.append(FoundMoment(start, end, math.inf, ("asked for",)))
    return out


def _followed(done: RenderedClip) -> bool:
    """Whether the clip's lit player can be followed through its detections (a click or
    a track id; box keyframes name no track)."""
    return (
        done.highlight is not None
        and done.highlight.needs_detections
        and done.detections is not None
    )


PLAYER_IN = 0.5  # of a moment's seconds: he must be found (or coasted) on this many
PLAYER_WEIGHT = 2.0  # a moment he is in throughout scores this much more


def moments_with_the_player(
    found: list[FoundMoment], coverage: tuple[str, ...]
) -> list[FoundMoment]:
    """The moments the lit player is in (found or coasted on at least half their
    seconds), scored up by how much, best first, each saying so."""
    kept = []
    for moment in found:
        seconds = coverage[
            int(moment.start_s) : max(int(moment.start_s) + 1, math.ceil(moment.end_s))
        ]
        share = sum(s != "lost" for s in seconds) / max(1, len(seconds))
        if share < PLAYER_IN:
            continue
        reasons = (*moment.reasons, f"the player in it {share:.0%}")
        score = moment.score + PLAYER_WEIGHT * share
        kept.append(FoundMoment(moment.start_s, moment.end_s, score, reasons))
    return sorted(kept, key=lambda m: -m.score)


def _output_span(timeline: FramingTimeline, start_s: float, end_s: float) -> tuple[float, float]:
    """Source ``[start_s, end_s)`` as the output shows it (clamped to what was kept)."""
    begin = timeline.output_time(start_s)
    finish = timeline.output_time(end_s)
    return (
        begin if begin is not None else 0.0,
        finish if finish is not None else timeline.output_duration_s,
    )


def _chosen(rendered: list[RenderedClip], reel: Reel) -> list[tuple[int, FoundMoment]]:
    """Every clip's moments kept in the reel, in reel order: the ones asked for, then the
    best found ones while the reel's length allows (a crossfade shortens each join)."""
    per_clip = [_moments(done, reel) for done in rendered]
    overlap = reel.transition.overlap_s
    asked = sum(m.end_s - m.start_s for ms in per_clip for m in ms if math.isinf(m.score))
    budget = None if reel.max_duration_s is None else reel.max_duration_s - asked
    found = sorted(
        ((i, m) for i, ms in enumerate(per_clip) for m in ms if not math.isinf(m.score)),
        key=lambda item: -item[1].score,
    )
    kept_found: set[tuple[int, float]] = set()
    total = 0.0
    for i, moment in found:
        length = moment.end_s - moment.start_s - overlap
        if budget is not None and total + length > budget + 1e-9:
            continue
        kept_found.add((i, moment.start_s))
        total += length
    chosen = []
    for i, moments in enumerate(per_clip):
        picked = [m for m in moments if math.isinf(m.score) or (i, m.start_s) in kept_found]
        chosen += [(i, m) for m in fit_within(picked, None)]
    return chosen


def assemble_rendered(
    rendered: list[RenderedClip],
    reel: Reel,
    out_dir: Path,
    clips_s: float,
    *,
    progress: Callable[[float], None] | None = None,
) -> ProcessedReel:
    """The reel cut from ``rendered`` into ``out_dir`` (its status, the reel, its edit,
    poster and preview); ``progress(fraction)`` as the reel's frames are written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    chosen = _chosen(rendered, reel)
    if not chosen:
        return finish_reel(failed_reel(rendered, reel, "no moment to put in the reel"), out_dir, {})
    first = rendered[chosen[0][0]].info
    fps = Fraction(first.fps).limit_denominator(1001)
    target = LoudnessTarget(integrated=reel.loudness_lufs, true_peak=reel.true_peak_db)
    fmt = ReelFormat(
        width=first.display_width - first.display_width % 2,
        height=first.display_height - first.display_height % 2,
        fps=fps,
        crossfade_s=reel.transition.overlap_s,
        loudness=target,
    )
    pieces, edit = [], []
    for i, moment in chosen:
        done = rendered[i]
        start = round(moment.start_s * fps)
        end = min(round(moment.end_s * fps), round(done.info.frame_count * fps / done.info.fps))
        pieces.append(Piece(done.path, start, end, done.info.has_audio))
        why = "; ".join(moment.reasons)
        marker = (EditMarker(start, f"moment: {why}" if why else "moment"),)
        note: dict[str, Any] = {
            "score": None if math.isinf(moment.score) else round(moment.score, 3),
            "reasons": list(moment.reasons),
        }
        whole = round(done.info.frame_count * fps / done.info.fps)
        edit.append(
            EditPiece(
                done.source_key, start, end, source_frames=whole, markers=marker, metadata=note
            )
        )
    output = out_dir / "output.mp4"
    # The poster and the preview show the reel's best moment (one asked for first, else
    # the best found), in its middle: a player's moment shows him lit.
    best = max(range(len(chosen)), key=lambda k: chosen[k][1].score)
    shown = shown_in(pieces, best, fmt)
    expected = max(1, sum(p.frames for p in pieces) - fmt.crossfade_frames() * (len(pieces) - 1))
    on_frames = None if progress is None else lambda n: progress(min(n / expected, 1.0))
    made = assemble(pieces, output, fmt, on_frames=on_frames, shown=shown)
    timeline_path = out_dir / "timeline.otio"
    timeline = reel_timeline(out_dir.name, edit, fps, fmt.crossfade_frames())
    write(timeline, timeline_path)
    exports = write_exports(timeline, timeline_path)
    paths = {"output": output, "timeline": timeline_path}
    paths |= {EXPORT_LABELS[name]: path for name, path in exports.items()}
    if made.previews is not None:  # made by the encode, from its frames
        paths["poster"] = made.previews[0].rename(out_dir / "poster.jpg")
        paths["preview"] = made.previews[1].rename(out_dir / "preview.mp4")
    else:  # the picture was copied, never decoded: cut from the file
        middle = (made.starts[best] + pieces[best].frames / 2) / float(fps)
        paths |= _previews(output, made.duration_s, middle, out_dir)
    placed = [
        ReelPieceStatus(
            clip=i,
            start_s=round(m.start_s, 3),
            end_s=round(m.end_s, 3),
            reel_start_s=round(at / float(fps), 3),
            reasons=list(m.reasons),
        )
        for (i, m), at in zip(chosen, made.starts, strict=True)
    ]
    status = ReelStatus(
        state=JobState.SUCCEEDED.value,
        clips=[r.status for r in rendered],
        pieces=placed,
        frames=made.frames,
        duration_s=round(made.duration_s, 3),
        loudness_lufs=reel.loudness_lufs,
        cost_usd=round(sum(r.status.cost_usd or 0.0 for r in rendered), 6),
        timings={"clips_s": round(clips_s, 3), "assembly_s": round(time.monotonic() - started, 3)},
        player_offers=player_offers(rendered, reel),
    )
    return finish_reel(status, out_dir, paths)


def shown_in(pieces: list[Piece], best: int, fmt: ReelFormat) -> Shown:
    """The reel's poster in the middle of piece ``best`` and its preview inside that
    piece's own frames (its crossfades with its neighbours left out): at most the
    preview's length, around the poster."""
    fade = fmt.crossfade_frames()
    start = sum(p.frames for p in pieces[:best]) - fade * best
    first = start + (fade if best > 0 else 0)
    last = start + pieces[best].frames - (fade if best < len(pieces) - 1 else 0)
    poster = (first + last) // 2
    length = min(round(PREVIEW_SECONDS * float(fmt.fps)), last - first)
    begin = min(max(poster - length // 2, first), last - length)
    return Shown(poster, (begin, begin + length))


def player_offers(rendered: list[RenderedClip], reel: Reel) -> list[PlayerOffer]:
    """A player's reel: the tracks of its other clips (those that do not light him) that
    look like him, for the user to confirm; none in any other reel."""
    if reel.player is None:
        return []
    clicked = rendered[reel.player.clip]
    if not _followed(clicked) or clicked.detections is None or clicked.highlight is None:
        return []
    look = player_look(clicked.detections, clicked.highlight)
    if look is None:
        return []
    offers = []
    for index, done in enumerate(rendered):
        if done.highlight is None and done.detections is not None:
            offers += offers_in(index, done.detections, look)
    return offers


def _previews(output: Path, duration_s: float, middle: float, out_dir: Path) -> dict[str, Path]:
    poster, preview = out_dir / "poster.jpg", out_dir / "preview.mp4"
    write_poster(str(output), poster, at_s=middle)
    start, length = preview_window(middle, duration_s, PREVIEW_SECONDS)
    write_preview(str(output), preview, start_s=start, length_s=length)
    return {"poster": poster, "preview": preview}


def failed_reel(rendered: list[RenderedClip], reel: Reel, message: str) -> ReelStatus:
    return ReelStatus(
        state=JobState.FAILED.value,
        clips=[r.status for r in rendered],
        error=message,
        loudness_lufs=reel.loudness_lufs,
    )


def finish_reel(status: ReelStatus, out_dir: Path, paths: dict[str, Path]) -> ProcessedReel:
    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = out_dir / "status.json"
    status_path.write_text(json.dumps(status.model_dump(mode="json"), indent=2) + "\n")
    return ProcessedReel(status, {"status": status_path, **paths})

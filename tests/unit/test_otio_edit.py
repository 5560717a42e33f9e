"""The reel's edit as OpenTimelineIO: read back, every piece's frames are the ones
rendered, the track lasts as long as the reel, and rendering the timeline alone puts the
cuts where the reel has them."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from pipeline.manifests.timeline import FramingTimeline, Rect
from pipeline.manifests.timeline import Piece as TimelinePiece
from pipeline.media.otio_edit import (
    EditMarker,
    EditPiece,
    cut_points,
    job_timeline,
    read,
    reel_timeline,
    rendered_pieces,
    write,
    write_exports,
)
from pipeline.media.reel_assembly import Piece, ReelFormat, plan

FPS = Fraction(30)
EDIT = [
    EditPiece("clips/a.mp4", 60, 180, markers=(EditMarker(90, "moment"),)),
    EditPiece("clips/b.mp4", 0, 91, crop=(420, 0, 608, 1080)),
    EditPiece("clips/c.mp4", 15, 75),
]


@pytest.mark.parametrize("crossfade", [0, 15, 16])
def test_the_timeline_read_back_holds_the_rendered_pieces(tmp_path: Path, crossfade: int) -> None:
    path = tmp_path / "timeline.otio"
    write(reel_timeline("reel", EDIT, FPS, crossfade), path)
    timeline = read(path)
    pieces, fade = rendered_pieces(timeline)
    assert fade == crossfade
    assert [(p.source_key, p.start, p.end) for p in pieces] == [
        (p.source_key, p.start, p.end) for p in EDIT
    ]
    frames = sum(p.end - p.start for p in EDIT) - 2 * crossfade
    for track in timeline.tracks:
        assert track.duration().to_frames() == frames


@pytest.mark.parametrize("crossfade", [0, 15])
def test_rendering_the_timeline_alone_cuts_where_the_reel_does(crossfade: int) -> None:
    """The cut points of the OTIO (a crossfade's centre) are the rendered reel's joins."""
    reel = ReelFormat(1080, 1920, FPS, crossfade_s=crossfade / 30)
    rendered = plan(
        [Piece(Path(p.source_key), p.start, p.end, False) for p in EDIT], reel, [None] * 3
    )
    timeline = reel_timeline("reel", EDIT, FPS, crossfade)
    again, _ = rendered_pieces(timeline)
    replanned = plan(
        [Piece(Path(p.source_key), p.start, p.end, False) for p in again], reel, [None] * 3
    )
    assert replanned.starts == rendered.starts and replanned.frames == rendered.frames
    assert cut_points(timeline) == [s + crossfade // 2 for s in rendered.starts[1:]]


def test_sources_are_bucket_keys_with_speed_crop_and_markers() -> None:
    timeline = reel_timeline("reel", EDIT, FPS, 15)
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.media_reference.target_url for c in clips] == [p.source_key for p in EDIT]
    assert clips[0].markers[0].name == "moment"
    assert clips[0].markers[0].marked_range.start_time.to_frames() == 90
    assert clips[1].metadata["reelpipe"]["crop"] == {"x": 420, "y": 0, "width": 608, "height": 1080}
    transitions = [t for t in timeline.video_tracks()[0] if isinstance(t, otio.schema.Transition)]
    assert [t.transition_type for t in transitions] == ["SMPTE_Dissolve"] * 2


def test_a_piece_too_short_for_its_crossfades_is_refused() -> None:
    with pytest.raises(ValueError, match="hold no cut"):
        reel_timeline("reel", [EDIT[0], EditPiece("clips/x.mp4", 0, 10), EDIT[1]], FPS, 15)


def test_a_jobs_edit_follows_framings_trim_speed_and_crop() -> None:
    """Kept 1-3 s of a 25 fps clip, 2-2.5 s at half speed: three clips, the slow one a
    time warp that the track plays for 25 frames, the crop on each."""
    framing = FramingTimeline(
        source_width=1920,
        source_height=1080,
        source_fps=25.0,
        output_fps=25.0,
        crop=Rect(x=656, y=0, width=608, height=1080),
        pieces=[
            TimelinePiece(source_start_s=1.0, source_end_s=2.0, factor=1.0),
            TimelinePiece(source_start_s=2.0, source_end_s=2.5, factor=0.5, interpolate="blend"),
            TimelinePiece(source_start_s=2.5, source_end_s=3.0, factor=1.0),
        ],
    )
    timeline = job_timeline("job", "clips/game.mp4", Fraction(25), framing, frames=100)
    clips = list(timeline.video_tracks()[0].find_clips())
    ranges = [(c.source_range.start_time.value, c.source_range.duration.value) for c in clips]
    assert ranges == [(25, 25), (50, 25), (62, 12)]  # 2.5 s (62.5 frames) played as 62
    assert timeline.video_tracks()[0].duration().value == framing.output_frames
    assert [c.effects[0].time_scalar for c in clips if c.effects] == [0.5]
    assert all(c.metadata["reelpipe"]["crop"]["width"] == 608 for c in clips)


def test_a_job_without_framing_is_the_whole_clip() -> None:
    timeline = job_timeline("job", "clips/game.mp4", Fraction(30), None, frames=90)
    (clip,) = timeline.video_tracks()[0].find_clips()
    assert (clip.source_range.start_time.value, clip.source_range.duration.value) == (0, 90)


def test_the_edit_is_also_written_as_fcp_xml_and_an_edl(tmp_path: Path) -> None:
    """Read back through OTIO's own adapters, both hold the reel's cuts and length."""
    edit = [replace(p, source_frames=300) for p in EDIT]
    timeline = reel_timeline("reel", edit, FPS, 15)
    path = tmp_path / "timeline.otio"
    written = write_exports(timeline, path)
    assert set(written) == {"fcp_xml", "cmx_3600"}
    length = timeline.video_tracks()[0].duration().to_frames()
    for adapter, target in written.items():
        options = {"rate": float(FPS)} if adapter == "cmx_3600" else {}  # an EDL has no rate
        again = otio.adapters.read_from_file(str(target), adapter_name=adapter, **options)
        track = again.video_tracks()[0]
        assert track.duration().to_frames() == length, adapter
        assert len(list(track.find_clips())) == len(EDIT), adapter

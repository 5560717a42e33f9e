"""The reel's edit as OpenTimelineIO: read back, every piece's frames are the ones
rendered, the track lasts as long as the reel, and rendering the timeline alone puts the
cuts where the reel has them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from pipeline.media.otio_edit import (
    EditMarker,
    EditPiece,
    cut_points,
    read,
    reel_timeline,
    rendered_pieces,
    write,
)
from pipeline.media.reel_assembly import Piece, ReelFormat, plan

FPS = Fraction(30)
EDIT = [
    EditPiece("clips/a.mp4", 60, 180, markers=(EditMarker(90, "moment"),)),
    EditPiece("clips/b.mp4", 0, 91, crop=(420, 0, 608, 1080)),
    EditPiece("clips/c.mp4", 15, 75, speed=0.5),
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
    warp = clips[2].effects[0]
    assert isinstance(warp, otio.schema.LinearTimeWarp) and warp.time_scalar == 0.5
    transitions = [t for t in timeline.video_tracks()[0] if isinstance(t, otio.schema.Transition)]
    assert [t.transition_type for t in transitions] == ["SMPTE_Dissolve"] * 2


def test_a_piece_too_short_for_its_crossfades_is_refused() -> None:
    with pytest.raises(ValueError, match="hold no cut"):
        reel_timeline("reel", [EDIT[0], EditPiece("clips/x.mp4", 0, 10), EDIT[1]], FPS, 15)

"""Pieces already in the reel's format, cut on keyframes (or whole files) and joined by
cuts, are joined by stream copy: the reel's video packets are the pieces' own, bit for
bit; frame-exact and its sound still brought to the reel's loudness. A piece cut off a
keyframe, a crossfade or another size is encoded once, as before."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from pipeline.media.loudness import LoudnessTarget, measure
from pipeline.media.reel_assembly import CodedVideo, Piece, ReelFormat, assemble, copy_spans
from tests.factories import ffmpeg

W, H = 320, 180
FMT = ReelFormat(W, H, Fraction(30), loudness=LoudnessTarget(integrated=-16.0))


def _clip(path: Path, colour: str, seconds: float, tone_db: float, *, gop: int) -> Path:
    """H.264 yuv420p at the reel's size and rate, a keyframe every ``gop`` frames."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=30:duration={seconds},hue=h={colour}",
        "-f", "lavfi", "-i", f"sine=f=440:d={seconds},volume={tone_db}dB",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-c:a", "aac", "-ac", "2", "-shortest", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("copy")
    return [
        _clip(d / "quiet.mp4", "0", 2.0, -30.0, gop=15),
        _clip(d / "loud.mp4", "120", 2.0, 0.0, gop=15),
    ]


def _frames(path: Path) -> tuple[int, float, float]:
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        samples = sum(f.samples for f in c.decode(audio=0))
    return frames, samples / rate, frames / 30


def _ordered(path: Path) -> list[bytes]:
    """The packets in presentation order (the demuxer gives decode order)."""
    with av.open(str(path)) as c:
        return [bytes(p) for p in sorted(c.demux(video=0), key=lambda p: p.pts or 0) if p.size]


def _times(path: Path) -> list[Fraction]:
    """Each picture's presentation time in seconds, in presentation order."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        base = stream.time_base  # read while open: a closed container's streams refuse it
        assert base is not None
        pts = sorted(p.pts for p in c.demux(stream) if p.size and p.pts is not None)
    return [Fraction(t) * base for t in pts]


def _slices(packet: bytes) -> list[bytes]:
    """The coded picture NAL units (types 1 and 5) of an MP4 H.264 packet."""
    out, at = [], 0
    while at + 4 <= len(packet):
        size = int.from_bytes(packet[at : at + 4], "big")
        unit = packet[at + 4 : at + 4 + size]
        if unit and unit[0] & 0x1F in (1, 5):
            out.append(unit)
        at += 4 + size
    return out


def test_keyframe_cuts_are_joined_by_stream_copy(clips: list[Path], tmp_path: Path) -> None:
    quiet, loud = clips
    pieces = [Piece(quiet, 15, 45, True), Piece(loud, 0, 60, True)]  # keyframe to keyframe; whole
    made = assemble(pieces, tmp_path / "reel.mp4", FMT)
    assert made.copied
    frames, audio_s, video_s = _frames(made.path)
    assert frames == made.frames == 30 + 60
    assert abs(audio_s - video_s) <= 0.025
    # Not one picture encoded again: the reel's coded pictures are the pieces' own, bit for
    # bit (a join's keyframe may carry the parameter sets beside its picture).
    got, source = _ordered(made.path), _ordered(quiet)[15:45] + _ordered(loud)
    assert [_slices(g) for g in got] == [_slices(s) for s in source]
    # Each picture in its place: one frame of the reel's rate after the one before.
    times = _times(made.path)
    assert [t - times[0] for t in times] == [Fraction(i, 30) for i in range(90)]
    # The sound still went through the loudness pass: the quiet piece is brought up.
    assert measure(made.path, start_s=0.0, end_s=1.0).integrated == pytest.approx(-16.0, abs=1.5)
    assert measure(made.path, start_s=1.0, end_s=3.0).integrated == pytest.approx(-16.0, abs=1.5)


@pytest.mark.parametrize(
    ("pieces", "fmt"),
    [
        ([(0, 20), (0, 60)], FMT),  # ends off a keyframe (frame 20 of 15, 30, ...)
        ([(5, 30), (0, 60)], FMT),  # starts off one
        ([(0, 30), (0, 60)], ReelFormat(W, H, Fraction(30), crossfade_s=0.2)),  # a crossfade
        ([(0, 30), (0, 60)], ReelFormat(2 * W, 2 * H, Fraction(30))),  # another size
        ([(0, 30), (0, 60)], ReelFormat(W, H, Fraction(25))),  # another rate
    ],
)
def test_anything_else_is_encoded_once(
    clips: list[Path], pieces: list[tuple[int, int]], fmt: ReelFormat
) -> None:
    assert (
        copy_spans([Piece(c, a, b, True) for c, (a, b) in zip(clips, pieces, strict=True)], fmt)
        is None
    )


def test_a_piece_off_a_keyframe_is_encoded_frame_exact(clips: list[Path], tmp_path: Path) -> None:
    quiet, loud = clips
    made = assemble([Piece(quiet, 5, 40, True), Piece(loud, 0, 60, True)], tmp_path / "r.mp4", FMT)
    assert not made.copied
    assert _frames(made.path)[0] == 35 + 60
    assert _ordered(made.path)[:35] != _ordered(quiet)[5:40]


def test_the_coded_facts_are_read_from_the_packets(clips: list[Path]) -> None:
    coded = CodedVideo.of(clips[0])
    assert coded is not None and coded.fits(FMT)
    assert sorted(coded.keyframes) == [0, 15, 30, 45] and coded.frames == 60


def test_a_piece_of_another_size_is_encoded_once_with_the_others(
    clips: list[Path], tmp_path: Path
) -> None:
    quiet, _ = clips
    big = tmp_path / "big.mp4"
    ffmpeg(
        "-i", str(quiet), "-vf", f"scale={2 * W}:{2 * H}", "-c:v", "libx264",
        "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "copy", str(big),
    )  # fmt: skip
    made = assemble([Piece(quiet, 0, 60, True), Piece(big, 0, 60, True)], tmp_path / "r.mp4", FMT)
    assert not made.copied
    frames, audio_s, video_s = _frames(made.path)
    assert frames == made.frames == 60 + 60
    assert abs(audio_s - video_s) <= 0.025
    with av.open(str(made.path)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (W, H)
    assert [_slices(g) for g in _ordered(made.path)[:60]] != [_slices(s) for s in _ordered(quiet)]


def test_a_crossfade_is_encoded_once_and_ends_with_its_sound(
    clips: list[Path], tmp_path: Path
) -> None:
    quiet, loud = clips
    fmt = ReelFormat(W, H, Fraction(30), crossfade_s=0.2, loudness=LoudnessTarget(integrated=-16.0))
    made = assemble([Piece(quiet, 0, 60, True), Piece(loud, 0, 60, True)], tmp_path / "r.mp4", fmt)
    assert not made.copied
    frames, audio_s, video_s = _frames(made.path)
    assert frames == made.frames == 60 + 60 - fmt.crossfade_frames()
    assert abs(audio_s - video_s) <= 0.025
    assert measure(made.path, start_s=0.0, end_s=1.8).integrated == pytest.approx(-16.0, abs=1.5)

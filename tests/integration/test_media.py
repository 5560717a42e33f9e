"""Media: probing, the PyAV frame reader/writer, rotation and odd sizes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import InvalidMedia
from pipeline.core.settings import EncodeProfile
from pipeline.media.frames import FrameReader, FrameWriter
from pipeline.media.probe import probe, probe_url
from tests.factories import ffmpeg, make_clip, make_odd_sized, make_rotated
from tests.media_checks import assert_playable_everywhere, inspect, psnr, read_frame


def copy_through(src: Path, dst: Path) -> int:
    """Decode and re-encode ``src`` untouched, remuxing its audio; returns frames."""
    info = probe(src)
    with (
        FrameReader(src, info) as reader,
        FrameWriter(
            dst,
            reader.width,
            reader.height,
            reader.fps,
            EncodeProfile(preset="veryfast", crf=18),
            time_base=reader.time_base,
            audio_template=reader.audio,
        ) as writer,
    ):
        for frame in reader.frames(on_audio=writer.mux_audio):
            writer.write(frame)
        return writer.frames_written


def test_probe_reports_the_generated_clip(tmp_path: Path) -> None:
    """Size, rate, frame count, duration and audio match what was generated."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (320, 180, 0)
    assert info.fps == Fraction(30)
    assert info.frame_count == truth.frames == 60
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.has_audio and info.audio_codec == "aac"


@pytest.mark.parametrize("content", [b"", b"\x00" * 4096, b"not a video at all" * 100])
def test_probe_rejects_garbage_with_a_clear_message(tmp_path: Path, content: bytes) -> None:
    """Files that are not videos raise InvalidMedia, not a traceback from ffprobe."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(InvalidMedia, match="not a readable video"):
        probe(bad)


def test_probe_rejects_audio_only_files(tmp_path: Path) -> None:
    """A clip without video is refused by name."""
    audio = tmp_path / "a.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio))
    with pytest.raises(InvalidMedia, match="no video stream"):
        probe(audio)


def test_writer_output_plays_everywhere_and_keeps_audio(tmp_path: Path) -> None:
    """Re-encoded output: H.264/yuv420p/even/faststart, all frames, audio copied in sync."""
    clip, truth = make_clip(tmp_path, duration_s=2.0)
    out = tmp_path / "out.mp4"
    assert copy_through(clip, out) == truth.frames
    facts = assert_playable_everywhere(out)
    assert facts.video.frames == truth.frames
    assert facts.audio is not None and facts.audio.codec == "aac"
    assert abs(facts.audio.duration_s - facts.video.duration_s) < 0.05
    original = read_frame(clip, 30, 320, 180)
    assert psnr(read_frame(out, 30, 320, 180), original) > 35


def test_silent_sources_give_silent_outputs(tmp_path: Path) -> None:
    """No audio in, no audio track out."""
    clip, _ = make_clip(tmp_path, audio=False)
    out = tmp_path / "out.mp4"
    copy_through(clip, out)
    assert inspect(out).audio is None


def test_odd_sized_sources_become_even(tmp_path: Path) -> None:
    """A 641x361 4:4:4 source is written as 640x360 yuv420p."""
    clip, _ = make_clip(tmp_path)
    odd = make_odd_sized(clip, tmp_path / "odd.mp4")
    out = tmp_path / "out.mp4"
    copy_through(odd, out)
    facts = assert_playable_everywhere(out)
    assert (facts.video.width, facts.video.height) == (640, 360)


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotated_sources_are_written_upright_like_ffmpeg_does(tmp_path: Path, rotate: int) -> None:
    """The frame reader turns phone clips upright exactly as ffmpeg's autorotate does."""
    clip, _ = make_clip(tmp_path, duration_s=1.0)
    rotated = make_rotated(clip, tmp_path / "rot.mp4", rotate)
    out = tmp_path / "out.mp4"
    copy_through(rotated, out)
    facts = assert_playable_everywhere(out)
    w, h = (180, 320) if rotate in (90, 270) else (320, 180)
    assert (facts.video.width, facts.video.height) == (w, h)
    assert facts.rotation == 0
    reference = tmp_path / "ffmpeg-upright.mp4"
    ffmpeg(
        "-i", str(rotated), "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", str(reference)
    )
    assert psnr(read_frame(out, 10, w, h), read_frame(reference, 10, w, h)) > 30


def test_reader_reports_truncated_files(tmp_path: Path) -> None:
    """A clip cut off mid-file is refused as invalid media, never half-processed silently."""
    clip, _ = make_clip(tmp_path, duration_s=2.0)
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidMedia):
        info = probe(cut)
        copy_through(cut, tmp_path / "out.mp4")
        assert info.frame_count > 0


def test_plane_edits_reach_the_encoder(tmp_path: Path) -> None:
    """Writing into the Y plane view changes the encoded picture."""
    clip, _ = make_clip(tmp_path, duration_s=1.0, audio=False)
    info = probe(clip)
    out = tmp_path / "black.mp4"
    with (
        FrameReader(clip, info) as reader,
        FrameWriter(out, reader.width, reader.height, reader.fps, EncodeProfile()) as writer,
    ):
        for frame in reader.frames():
            frame.y[:] = 16
            frame.u[:] = 128
            frame.v[:] = 128
            writer.write(frame)
    assert float(np.mean(read_frame(out, 5, 320, 180))) < 4


@pytest.mark.parametrize(("start", "end"), [(0, 20), (37, 61), (75, 90)])
def test_a_frame_range_decodes_the_same_frames_as_the_whole_clip(
    tmp_path: Path, start: int, end: int
) -> None:
    """A segment seeks to its keyframe and yields exactly frames [start, end), bit-identical."""
    clip, _ = make_clip(tmp_path, duration_s=3.0)
    ffmpeg("-i", str(clip), "-c:v", "libx264", "-g", "24", "-c:a", "copy", str(tmp_path / "g.mp4"))
    source = tmp_path / "g.mp4"
    info = probe(source)
    assert info.constant_rate
    with FrameReader(source, info) as reader:
        whole = {f.index: f.y.copy() for f in reader.frames() if start <= f.index < end}
    with FrameReader(source, info) as reader:
        part = [(f.index, f.y.copy()) for f in reader.frames(start=start, end=end)]
    assert [i for i, _ in part] == list(range(start, end))
    assert all(np.array_equal(whole[i], y) for i, y in part)


def test_a_probe_over_http_never_shows_the_url(tmp_path: Path) -> None:
    """Probing a presigned URL reports errors by the object's name, without the signature."""
    url = "http://127.0.0.1:9/bucket/clip.mp4?X-Amz-Signature=abcdef0123"
    with pytest.raises(InvalidMedia) as caught:
        probe_url(url, "clip.mp4", 0)
    assert "X-Amz-Signature" not in str(caught.value) and "abcdef0123" not in str(caught.value)


def test_keyframes_decode_only_the_keyframes(tmp_path: Path) -> None:
    """With a 24-frame GOP, the keyframes are frames 0, 24, 48, ... numbered by timestamp."""
    clip, _ = make_clip(tmp_path, duration_s=3.0)
    source = tmp_path / "g.mp4"
    ffmpeg("-i", str(clip), "-c:v", "libx264", "-g", "24", "-sc_threshold", "0", str(source))
    info = probe(source)
    with FrameReader(source, info) as reader:
        assert [f.index for f in reader.keyframes()] == [0, 24, 48, 72]

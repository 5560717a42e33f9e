"""A reel assembled from pieces of different clips: frame-exact, one format, audio ending
with the video, loud pieces and quiet ones brought to the same loudness, no black frame
at a join."""

from __future__ import annotations

import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.media.loudness import LoudnessTarget, measure
from pipeline.media.reel_assembly import Piece, ReelFormat, assemble
from tests.factories import ffmpeg

W, H = 320, 180


def _clip(path: Path, video: str, seconds: float, tone_db: float | None) -> Path:
    """A clip of the lavfi ``video`` source, with a 440 Hz tone at ``tone_db`` (none when
    None)."""
    args = ["-f", "lavfi", "-i", f"{video}:duration={seconds}"]
    if tone_db is not None:
        args += ["-f", "lavfi", "-i", f"sine=f=440:d={seconds},volume={tone_db}dB"]
        args += ["-c:a", "aac", "-ac", "2"]
    ffmpeg(*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-shortest", str(path))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reel")
    return {
        # quiet and loud, other sizes and rates, one silent
        "quiet": _clip(d / "quiet.mp4", f"testsrc2=size={W}x{H}:rate=30", 2.0, -24.0),
        "loud": _clip(d / "loud.mp4", "smptebars=size=320x240:rate=25", 2.0, 6.0),
        "mute": _clip(d / "mute.mp4", f"color=c=0xd04020:size={W}x{H}:rate=30", 1.5, None),
    }


def _decoded(path: Path) -> tuple[list[np.ndarray], int, float]:
    """The luma planes of every frame, the audio's sample count, its rate."""
    with av.open(str(path)) as c:
        lumas = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        samples = sum(f.samples for f in c.decode(audio=0))
    return lumas, samples, float(rate)


def _loudness_of(path: Path, start_s: float, end_s: float) -> float:
    return measure(path, start_s=start_s, end_s=end_s).integrated


def _stream(path: Path, kind: str) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", kind, "-show_streams", "-of", "json", path],
        capture_output=True,
        check=True,
        timeout=30,
    )
    streams: list[dict[str, object]] = json.loads(out.stdout)["streams"]
    return streams[0]


@pytest.mark.parametrize("crossfade_s", [0.0, 0.5])
def test_pieces_become_one_frame_exact_reel(
    clips: dict[str, Path], tmp_path: Path, crossfade_s: float
) -> None:
    pieces = [
        Piece(clips["quiet"], 10, 50, has_audio=True),  # 40 frames
        Piece(clips["loud"], 0, 45, has_audio=True),  # 45 frames, 25 fps made 30
        Piece(clips["mute"], 5, 45, has_audio=False),  # 40 frames
    ]
    reel = ReelFormat(W, H, Fraction(30), crossfade_s=crossfade_s)
    made = assemble(pieces, tmp_path / "reel.mp4", reel)

    fade = round(crossfade_s * 30)
    assert made.frames == 125 - 2 * fade
    assert made.starts == (0, 40 - fade, 85 - 2 * fade)
    video, audio = _stream(made.path, "v"), _stream(made.path, "a")
    assert (video["codec_name"], video["pix_fmt"], video["width"], video["height"]) == (
        "h264",
        "yuv420p",
        W,
        H,
    )
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 2)
    lumas, samples, rate = _decoded(made.path)
    assert len(lumas) == made.frames
    assert abs(samples / rate - len(lumas) / 30) <= 0.025  # audio ends with the video
    # No black frame where pieces join, and none frozen: a cut changes the picture at
    # once, a crossfade on every one of its frames (the pieces' pictures differ).
    for start in made.starts[1:]:
        for f in range(start - 2, start + fade + 2):
            assert lumas[f].mean() > 30, f
        for f in range(start, start + fade) if fade else [start - 1]:
            assert np.abs(lumas[f].astype(int) - lumas[f + 1]).mean() > 0.5, f


def test_a_quiet_clip_and_a_loud_one_come_out_alike_at_the_target(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """Recorded 30 dB apart; in the reel each is within 1 LU of -14 LUFS, the reel's true
    peak at most -1 dBTP."""
    before = (_loudness_of(clips["quiet"], 0, 2), _loudness_of(clips["loud"], 0, 2))
    assert before[1] - before[0] > 20
    pieces = [Piece(clips["quiet"], 0, 60, True), Piece(clips["loud"], 0, 60, True)]
    reel = ReelFormat(W, H, Fraction(30), loudness=LoudnessTarget(integrated=-14.0))
    made = assemble(pieces, tmp_path / "loud.mp4", reel)
    quiet, loud = _loudness_of(made.path, 0.1, 1.9), _loudness_of(made.path, 2.1, 3.9)
    assert abs(quiet - -14.0) <= 1.0, quiet
    assert abs(loud - -14.0) <= 1.0, loud
    assert _true_peak(made.path) <= -1.0 + 0.3


def _true_peak(path: Path) -> float:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    peaks = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", out.stderr.decode())
    return float(peaks[-1])


def test_a_piece_no_longer_than_the_crossfade_is_refused(clips: dict[str, Path]) -> None:
    pieces = [Piece(clips["quiet"], 0, 10, True), Piece(clips["loud"], 0, 30, True)]
    with pytest.raises(ValueError, match="no longer than the crossfade"):
        assemble(pieces, Path("unused.mp4"), ReelFormat(W, H, Fraction(30), crossfade_s=0.5))


def test_an_encoded_reel_writes_its_poster_and_preview_from_the_same_pass(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ffmpeg run writes the reel, its poster (the reel's frame asked for, scaled) and
    its silent preview (the frames asked for): nothing decodes the reel again."""
    from pipeline.media import ffmpeg_run, reel_assembly
    from pipeline.media.reel_assembly import Shown
    from tests.media_checks import psnr, read_frame

    runs: list[int] = []
    real = ffmpeg_run.run_ffmpeg

    def counted(*args: object, **kwargs: object) -> None:
        runs.append(1)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reel_assembly, "run_ffmpeg", counted)
    pieces = [Piece(clips["quiet"], 0, 45, True), Piece(clips["mute"], 0, 40, False)]
    reel = ReelFormat(W, H, Fraction(30), crossfade_s=0.2)
    made = assemble(pieces, tmp_path / "reel.mp4", reel, shown=Shown(60, (50, 70)))
    assert len(runs) == 1 and not made.copied and made.previews is not None
    poster, preview = made.previews
    with av.open(str(poster)) as image:
        still = next(image.decode(video=0)).to_ndarray(format="rgb24")
    assert still.shape == (H, W, 3)
    assert psnr(still, read_frame(made.path, 60, W, H)) > 30
    assert psnr(still, read_frame(made.path, 20, W, H)) < psnr(
        still, read_frame(made.path, 60, W, H)
    )
    with av.open(str(preview)) as video:
        assert video.streams.video[0].codec_context.name == "h264" and not video.streams.audio
        first = next(video.decode(video=0)).to_ndarray(format="rgb24")
        count = 1 + sum(1 for _ in video.decode(video=0))
    assert count == 20
    assert psnr(first, read_frame(made.path, 50, W, H)) > 28

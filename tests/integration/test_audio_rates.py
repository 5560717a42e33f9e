"""Whatever the source's audio rate, the output's AAC is at 44.1 or 48 kHz and ends with
the video (within 25 ms: an AAC frame at 8 kHz lasts 128 ms). Real clips, real ffmpeg,
the output decoded with PyAV."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest

from tests.factories import ffmpeg
from tests.faults import spawn

HIGHLIGHT = {"highlight": {"boxes": [[0, 100, 50, 20, 40]]}}


def narrowband_clip(directory: Path, codec: str) -> Path:
    """2 s of video with 8 kHz mono audio (``pcm_s16le`` in a MOV, or AAC in an MP4)."""
    path = directory / ("pcm8k.mov" if codec == "pcm_s16le" else "aac8k.mp4")
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=2",
        "-ac", "1", "-c:v", "libx264", "-preset", "veryfast", "-c:a", codec, str(path),
    )  # fmt: skip
    return path


def ends(path: Path) -> tuple[float, float, int]:
    """The video's end, the audio's end (decoded, in seconds) and the audio's rate."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f for f in container.decode(video)]
        video_end = float(frames[-1].pts * video.time_base) + 1 / float(video.average_rate)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        audio_end = 0.0
        for frame in container.decode(audio):
            audio_end = float(frame.pts * audio.time_base) + frame.samples / frame.sample_rate
        return video_end, audio_end, audio.sample_rate


@pytest.mark.parametrize("codec", ["pcm_s16le", "aac"])
@pytest.mark.parametrize(
    "stages",
    [
        {"framing": {}},
        {"framing": {"speed": [{"start_s": 0.5, "end_s": 1.0, "factor": 0.5}]}},
        {"framing": {"aspect": "9:16"}, "overlay": HIGHLIGHT},  # one fused pass
        {"overlay": HIGHLIGHT},  # frames decoded and written here, the audio transcoded
    ],
    ids=["re-encode", "slow-motion", "fused", "overlay"],
)
def test_narrowband_audio_becomes_aac_at_48_khz_ending_with_the_video(
    tmp_path: Path, codec: str, stages: dict[str, object]
) -> None:
    clip = narrowband_clip(tmp_path, codec)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"schema_version": 1, "stages": stages}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELPIPE_", "AWS_"))}
    env["REELPIPE_WARM"] = "off"  # each command in its own process (the warm tests: their own)
    env |= {"REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"), "REELPIPE_X264_PRESET": "veryfast"}
    out = tmp_path / "out"
    proc = spawn("process", str(clip), "--manifest", str(manifest), "--out", str(out), env=env)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    video_end, audio_end, rate = ends(out / "output.mp4")
    assert rate in (44_100, 48_000)
    assert abs(audio_end - video_end) <= 0.025, (video_end, audio_end)

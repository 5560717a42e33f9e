"""A reel made end to end on this machine: each clip's job runs, its moments are cut from
what the job made, and one reel, its OpenTimelineIO edit and its status come out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from pipeline.core.errors import InvalidManifest
from pipeline.core.settings import Settings
from pipeline.jobs.reel_process import process_reel
from pipeline.manifests.reel import parse_reel_manifest
from pipeline.media.otio_edit import read, rendered_pieces
from pipeline.storage.bucket import Bucket
from tests.factories import ffmpeg, make_clip


def _frames_and_audio(path: Path) -> tuple[int, float, float]:
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        samples = sum(f.samples for f in c.decode(audio=0))
    return frames, samples / rate, frames / 30


def test_two_clips_become_one_reel_with_its_edit_and_status(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    a, _ = make_clip(tmp_path, "a.mp4", duration_s=2.0)
    b, _ = make_clip(tmp_path, "b.mp4", duration_s=2.0)
    manifest = parse_reel_manifest(
        {
            "schema_version": 1,
            "reel": {
                "clips": [
                    # framed by its own job: the moment is cut from the job's output
                    {
                        "moments": [{"start_s": 0.5, "end_s": 1.5}],
                        "stages": {"framing": {"trim": {"start_s": 0.2, "end_s": 1.8}}},
                    },
                    {"moments": [{"start_s": 0.0, "end_s": 1.0}]},  # no stages: as it is
                ],
                "transition": {"kind": "crossfade", "duration_s": 0.2},
            },
        }
    )
    made = process_reel(settings, [a, b], manifest, user="reeler", out_dir=tmp_path / "out")

    status = json.loads(made.paths["status"].read_text())
    assert status["state"] == "succeeded", status
    assert [c["state"] for c in status["clips"]] == ["succeeded", "succeeded"]
    assert status["clips"][0]["job_id"] and status["clips"][1]["job_id"] is None
    # 30 + 30 frames less one 6-frame crossfade; the audio ends with the video.
    frames, audio_s, video_s = _frames_and_audio(made.paths["output"])
    assert frames == status["frames"] == 54
    assert abs(audio_s - video_s) <= 0.025
    # The moment of the framed clip is its source's 0.5-1.5 s: 0.3-1.3 s of the trimmed output.
    assert status["pieces"][0]["start_s"] == pytest.approx(0.3, abs=0.04)
    assert status["pieces"][1]["reel_start_s"] == pytest.approx(0.8, abs=0.04)
    pieces, crossfade = rendered_pieces(read(made.paths["timeline"]))
    assert crossfade == 6
    assert [p.end - p.start for p in pieces] == [30, 30]
    assert pieces[0].source_key == status["clips"][0]["output_key"]
    assert made.paths["poster"].stat().st_size > 0 and made.paths["preview"].stat().st_size > 0


def test_a_reel_given_the_wrong_number_of_clips_says_so(settings: Settings, tmp_path: Path) -> None:
    a, _ = make_clip(tmp_path, "a.mp4", duration_s=1.0)
    manifest = parse_reel_manifest({"reel": {"clips": [{"moments": "auto"}, {"moments": "auto"}]}})
    with pytest.raises(InvalidManifest, match="2 clips and 1 were given"):
        process_reel(settings, [a], manifest, user="reeler", out_dir=tmp_path / "out")


def _roaring(path: Path, roar_s: float) -> Path:
    """6 s of a busy picture and quiet crowd noise, roaring for a second from ``roar_s``."""
    graph = (
        "testsrc2=s=320x180:r=30:d=6,format=yuv420p[v];"
        f"anoisesrc=a=0.6:d=6:c=pink,volume='if(between(t,{roar_s},{roar_s + 1}),1,0.03)'"
        ":eval=frame[s]"
    )
    ffmpeg(
        "-filter_complex", graph, "-map", "[v]", "-map", "[s]",
        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def test_auto_moments_are_the_roars_and_the_reel_keeps_to_its_length(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    clips = [_roaring(tmp_path / "a.mp4", 1.5), _roaring(tmp_path / "b.mp4", 4.0)]
    manifest = parse_reel_manifest(
        {"reel": {"clips": [{}, {}], "moment_s": 1.5, "max_moments": 1, "max_duration_s": 3.0}}
    )
    made = process_reel(settings, clips, manifest, user="reeler", out_dir=tmp_path / "out")
    assert made.status.state == "succeeded", made.status
    assert made.status.duration_s is not None and made.status.duration_s <= 3.0 + 1e-6
    roars = {0: 1.5, 1: 4.0}
    assert len(made.status.pieces) == 2
    for piece in made.status.pieces:
        assert piece.start_s <= roars[piece.clip] + 0.5 <= piece.end_s, piece
        assert "loudness rise" in piece.reasons

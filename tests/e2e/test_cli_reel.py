"""``reelpipe process A B --manifest reel.json --out DIR``: the reel as a user makes it."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.media.otio_edit import read, rendered_pieces
from tests.e2e.test_cli import reelpipe
from tests.factories import ffmpeg, make_clip
from tests.media_checks import assert_playable_everywhere

REEL = {
    "schema_version": 1,
    "reel": {
        "clips": [{"moments": [{"start_s": 0.2, "end_s": 1.2}]}, {"moments": "auto"}],
        "aspect": "9:16",
        "transition": {"kind": "crossfade", "duration_s": 0.3},
        "max_duration_s": 4,
        "moment_s": 1.5,
    },
}


def test_two_clips_and_a_reel_manifest_make_a_reel_its_edit_and_status(tmp_path: Path) -> None:
    make_clip(tmp_path, "a.mp4", duration_s=2.0)
    make_clip(tmp_path, "b.mp4", duration_s=2.0)
    (tmp_path / "reel.json").write_text(json.dumps(REEL))
    run = reelpipe(
        "process", "a.mp4", "b.mp4", "--manifest", "reel.json", "--out", "out", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "out"
    assert f"output:     {(out / 'output.mp4').resolve()}" in run.stdout
    facts = assert_playable_everywhere(out / "output.mp4")
    assert (facts.video.width, facts.video.height) == (100, 180)  # each clip framed 9:16
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "succeeded" and len(status["clips"]) == 2
    assert facts.video.frames == status["frames"]
    assert facts.audio is not None
    assert abs(facts.audio.duration_s - facts.video.duration_s) <= 0.025
    assert (out / "timeline.xml").stat().st_size > 0 and (out / "timeline.edl").stat().st_size > 0
    pieces, crossfade = rendered_pieces(read(out / "timeline.otio"))
    assert crossfade == 9
    assert sum(p.end - p.start for p in pieces) - crossfade * (len(pieces) - 1) == status["frames"]


def test_several_clips_without_a_reel_manifest_are_refused(tmp_path: Path) -> None:
    make_clip(tmp_path, "a.mp4", duration_s=1.0)
    make_clip(tmp_path, "b.mp4", duration_s=1.0)
    run = reelpipe("process", "a.mp4", "b.mp4", cwd=tmp_path)
    assert run.returncode == 2
    assert "several clips make a reel" in run.stderr


def test_moments_lists_the_roar_first_as_json(tmp_path: Path) -> None:
    graph = (
        "testsrc2=s=320x180:r=30:d=6,format=yuv420p[v];"
        "anoisesrc=a=0.6:d=6:c=pink,volume='if(between(t,3,4),1,0.03)':eval=frame[s]"
    )
    ffmpeg(
        "-filter_complex", graph, "-map", "[v]", "-map", "[s]",
        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(tmp_path / "game.mp4"),
    )  # fmt: skip
    run = reelpipe("moments", "game.mp4", "--moment-s", "2", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    moments = json.loads(run.stdout)
    assert set(moments[0]) == {"start_s", "end_s", "score", "reasons"}
    assert moments[0]["start_s"] <= 3.5 <= moments[0]["end_s"]
    assert "loudness rise" in moments[0]["reasons"]
    assert [m["score"] for m in moments] == sorted((m["score"] for m in moments), reverse=True)

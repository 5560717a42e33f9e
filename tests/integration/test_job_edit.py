"""Every processed job leaves its edit as OpenTimelineIO: the source by its key, framing's
kept pieces at their speeds, lasting as many frames as the output has."""

from __future__ import annotations

from pathlib import Path

import av

from pipeline.core.settings import Settings
from pipeline.jobs.process import process_clip
from pipeline.media.otio_edit import read
from pipeline.storage.bucket import Bucket
from tests.factories import job_manifest, make_clip


def test_a_trimmed_slowed_job_leaves_an_edit_as_long_as_its_output(
    settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=2.0, audio=False)
    framing = {
        "trim": {"start_s": 0.2, "end_s": 1.8},
        "speed": [{"start_s": 0.5, "end_s": 1.0, "factor": 0.5}],
    }
    done = process_clip(
        settings, clip, job_manifest(framing=framing), user="u", out_dir=tmp_path / "out"
    )
    with av.open(str(done.paths["output"])) as c:
        frames = sum(1 for _ in c.decode(video=0))
    timeline = read(done.paths["edit"])
    track = timeline.video_tracks()[0]
    assert track.duration().to_frames() == frames
    clips = list(track.find_clips())
    assert {c.media_reference.target_url for c in clips} == {done.status.input_key}
    starts = [c.source_range.start_time.to_frames() for c in clips]
    assert starts == [6, 15, 30]  # 0.2 s, 0.5 s, 1.0 s of the 30 fps source
    assert [e.time_scalar for c in clips for e in c.effects] == [0.5]
    assert done.paths["fcp_xml"].name == "timeline.xml" and done.paths["edl"].name == "timeline.edl"


def test_a_failed_job_leaves_no_edit(settings: Settings, bucket: Bucket, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "timeline.otio").write_text("{}")  # an earlier run's
    done = process_clip(settings, bad, job_manifest(framing={}), user="u", out_dir=tmp_path / "out")
    assert "edit" not in done.paths
    for name in ("timeline.otio", "timeline.xml", "timeline.edl"):
        assert not (tmp_path / "out" / name).exists()

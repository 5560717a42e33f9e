"""`reelpipe process --out DIR` keeps what the throwaway store held: the stages'
timeline and detections beside the output, and one run's files at a time."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.manifests.detections import Detections
from pipeline.manifests.timeline import FramingTimeline
from tests.factories import job_manifest, make_clip
from tests.faults import spawn


def process(clip: Path, manifest: dict[str, object], out: Path, tmp_path: Path) -> str:
    doc = tmp_path / "job.json"
    doc.write_text(json.dumps(manifest))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELPIPE_", "AWS_"))}
    env["REELPIPE_WARM"] = "off"  # each command in its own process (the warm tests: their own)
    env |= {"REELPIPE_SCRATCH_DIR": str(tmp_path / "scratch"), "REELPIPE_X264_PRESET": "veryfast"}
    proc = spawn("process", str(clip), "--manifest", str(doc), "--out", str(out), env=env)
    stdout, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return stdout


def test_out_keeps_the_timeline_and_detections_of_its_run(tmp_path: Path) -> None:
    clip, truth = make_clip(tmp_path, duration_s=1.0)
    out = tmp_path / "out"
    printed = process(clip, job_manifest(detect={"backend": "motion"}, framing={}), out, tmp_path)
    timeline = FramingTimeline.model_validate_json((out / "timeline.json").read_text())
    detections = Detections.model_validate_json((out / "detections.json").read_text())
    assert detections.backend == "motion" and len(detections.frames) == truth.frames
    assert timeline.model_dump() and (out / "output.mp4").stat().st_size > 0
    assert f"timeline:   {(out / 'timeline.json').resolve()}" in printed
    assert f"detections: {(out / 'detections.json').resolve()}" in printed

    # A second run into the same folder, without detect: nothing of the first is left
    # to be mistaken for this one's.
    process(clip, job_manifest(framing={"aspect": "1:1"}), out, tmp_path)
    assert not (out / "detections.json").exists()
    status = json.loads((out / "status.json").read_text())
    assert set(status["stages"]) == {"framing"}
    assert json.loads((out / "timeline.json").read_text()) != timeline.model_dump(mode="json")

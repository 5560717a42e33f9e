"""A detect run with the yolo backend leaves nothing in the temp dir: ultralytics'
settings file lives only for its first import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_clip

pytestmark = [pytest.mark.ml, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolov8n from its YAML config (random weights), saved as a .pt."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("weights") / "yolov8n-random.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def test_a_yolo_detect_job_leaves_no_settings_file(tmp_path: Path, weights: Path) -> None:
    """``reelpipe process`` in a fresh process (no YOLO_CONFIG_DIR of its own): the job
    succeeds and neither the temp dir nor the home directory holds a file afterwards."""
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps({"stages": {"detect": {"backend": "yolo", "stride": 5}}}))
    temp, home, work = tmp_path / "temp", tmp_path / "home", tmp_path / "work"
    for folder in (temp, home, work):
        folder.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(temp),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
        "REELPIPE_YOLO_WEIGHTS": str(weights),
        "REELPIPE_WARM": "off",  # a warm worker would leave its socket in the temp folder
    }
    command = [sys.executable, "-m", "pipeline.cli.main", "process", str(clip)]
    run = subprocess.run(
        [*command, "--manifest", str(manifest), "--out", str(tmp_path / "out")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "succeeded" and status["stages"]["detect"]["backend"] == "yolo"
    left = [p for folder in (temp, home, work) for p in folder.rglob("*") if not p.is_dir()]
    assert left == []

"""A click on a player works on the default install: no torch, no ultralytics.

``reelpipe process`` runs in a process (and its embedded S3 child) where importing
torch, torchvision, ultralytics or lap fails, as on a machine without the ml extra:
the detect stage (motion backend) must still track the players, so the overlay can
pick the clicked one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.media.sample import Scene
from tests.factories import job_manifest, make_clip

BLOCKED = ("torch", "torchvision", "ultralytics", "lap")

# Loaded by every Python process started with this folder on PYTHONPATH.
SITECUSTOMIZE = f'''
import sys
from importlib.abc import MetaPathFinder

BLOCKED = {BLOCKED!r}


class NotInstalled(MetaPathFinder):
    """Packages of the ml extra import as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
'''


def default_install_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that cannot import the ml extra."""
    blocker = tmp_path / "no-ml-extra"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELPIPE_ENDPOINT")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker), env.get("PYTHONPATH")]))
    env["REELPIPE_SCRATCH_DIR"] = str(tmp_path / "scratch")
    env["REELPIPE_X264_PRESET"] = "veryfast"
    return env


def test_a_click_picks_the_player_without_the_ml_extra(tmp_path: Path) -> None:
    """The job succeeds; the overlay picked a track under the clicked player, found him
    in the clicked second, and the motion backend ran."""
    env = default_install_env(tmp_path)
    probe = [sys.executable, "-c", "import ultralytics"]
    assert subprocess.run(probe, env=env, capture_output=True).returncode != 0
    clip, truth = make_clip(
        tmp_path, width=640, height=360, duration_s=3.0, audio=False, scene=Scene(crossing=True)
    )
    x, y, w, h = truth.boxes[30, 0]  # player 0, red, who crosses player 5's path
    click = {"frame": 30, "x": float(x + w / 2), "y": float(y + h / 2)}
    manifest = tmp_path / "job.json"
    manifest.write_text(json.dumps(job_manifest(overlay={"highlight": click})))
    command = ["process", str(clip), "--manifest", str(manifest), "--out", str(tmp_path / "out")]
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert (tmp_path / "out" / "status.json").is_file(), run.stderr
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert run.returncode == 0 and status["state"] == "succeeded", (status["error"], run.stderr)
    assert status["stages"]["detect"]["backend"] == "motion"
    details = status["stages"]["overlay"]["details"]
    picked = details["picked"]
    assert picked["track_id"] >= 0 and picked["backend"] == "motion"
    bx, by, bw, bh = picked["box"]
    px, py, pw, ph = truth.boxes[picked["frame"], 0]
    margin = 0.08 * 640  # the click's own tolerance
    assert bx - margin <= px + pw / 2 <= bx + bw + margin, (picked, truth.boxes[30, 0])
    assert by - margin <= py + ph / 2 <= by + bh + margin, (picked, truth.boxes[30, 0])
    assert details["coverage"][1] == "found", details["coverage"]

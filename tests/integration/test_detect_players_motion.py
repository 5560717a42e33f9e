"""``reelpipe detect-players --backend motion``: players on a frame with no weights, found
by what moves in the second before it; the default picks it when no weights are set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli.main import main
from tests.factories import make_clip


@pytest.mark.parametrize("backend", [["--backend", "motion"], []])
def test_players_on_a_frame_without_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    backend: list[str],
) -> None:  # fmt: skip
    monkeypatch.delenv("REELPIPE_YOLO_WEIGHTS", raising=False)
    clip, truth = make_clip(tmp_path, width=320, height=180, duration_s=2.0, audio=False)
    frame = 45
    argv = ["detect-players", str(clip), "--frame", str(frame), "--confidence", "0.0", *backend]
    assert main([*argv, "--scratch-dir", str(tmp_path / "s")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "success" and doc["frame_number"] == frame
    centres = np.array([d["center"] for d in doc["detections"]]).reshape(-1, 2)
    near = 0
    for x, y, w, h in truth.boxes[frame]:
        if len(centres):
            near += np.hypot(*(centres - (x + w / 2, y + h / 2)).T).min() <= 0.1 * 180
    assert near >= 0.5 * len(truth.boxes[frame]), doc["detections"]


def test_the_yolo_backend_without_weights_says_how_to_choose_motion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REELPIPE_YOLO_WEIGHTS", raising=False)
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    argv = ["detect-players", str(clip), "--frame", "3", "--backend", "yolo"]
    assert main([*argv, "--scratch-dir", str(tmp_path / "s")]) != 0
    assert "--backend motion" in capsys.readouterr().err

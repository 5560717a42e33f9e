"""The yolo backend through its real loading path, offline: a model built from its
config file (random weights), saved to .pt, loaded by the stage's loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.client.submit import upload_clip
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings
from pipeline.detect.backends import select_detector
from pipeline.detect.clip_detection import detect_frames
from pipeline.manifests.job import DetectBackend, DetectParams
from pipeline.media.probe import probe
from pipeline.stages.interactive import detect_ball, detect_players
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip

pytestmark = [pytest.mark.ml, pytest.mark.slow]


@pytest.fixture(scope="session")
def yolo_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolov8n from its YAML config (random weights, 80 COCO classes), saved as a .pt."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("weights") / "yolov8n-random.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def test_the_loader_runs_a_saved_model_without_the_network(
    yolo_weights: Path, settings: Settings, tmp_path: Path, no_network: list[object]
) -> None:
    """Loaded from the configured path, batched over strided frames; nothing downloaded."""
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    configured = settings.replace(yolo_weights=yolo_weights)
    detector = select_detector(configured, DetectParams(backend=DetectBackend.YOLO))
    assert detector.name == "yolo"
    found = detect_frames(clip, probe(clip), detector, stride=5, batch_size=4)
    assert sorted(found) == [0, 5, 10, 15, 20, 25, 29]
    assert all(d.xyxy.shape[1] == 4 and len(d.xyxy) == len(d.scores) for d in found.values())
    # Loaded once per process: a second detector shares the model.
    again = select_detector(configured, DetectParams(backend=DetectBackend.YOLO))
    assert again.model is detector.model  # type: ignore[attr-defined]
    assert no_network == []


def test_missing_weights_name_the_setting(settings: Settings, tmp_path: Path) -> None:
    """No file, or no setting: a ConfigError that says what to set."""
    yolo = DetectParams(backend=DetectBackend.YOLO)
    with pytest.raises(ConfigError, match="REELPIPE_YOLO_WEIGHTS"):
        select_detector(settings, yolo)
    missing = settings.replace(yolo_weights=tmp_path / "nope.pt")
    with pytest.raises(ConfigError, match=r"REELPIPE_YOLO_WEIGHTS: no weights file"):
        select_detector(missing, yolo)
    assert select_detector(settings, DetectParams()).name == "motion"  # auto without weights


def test_interactive_calls_answer_in_the_seeds_shapes(
    yolo_weights: Path, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """detect_players / detect_ball: status, detections or ball positions, video size."""
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    key = upload_clip(bucket, "u", clip)
    configured = settings.replace(yolo_weights=yolo_weights)
    players = detect_players(
        bucket, configured, "u", key, frame_number=12, confidence_threshold=0.0
    )
    assert players["status"] == "success" and players["frame_number"] == 12
    assert (players["video_width"], players["video_height"]) == (320, 180)
    for d in players["detections"]:
        assert set(d) == {"bbox", "confidence", "class", "center"} and d["class"] == "person"
    ball = detect_ball(bucket, configured, "u", key, start_frame=3, end_frame=9)
    assert ball["status"] == "success" and ball["frames_analyzed"] == 6
    assert all(3 <= p["frame"] < 9 for p in ball["ball_positions"])


def test_detect_players_command_prints_json(
    yolo_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reelpipe detect-players CLIP --frame N`` on the embedded store."""
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    argv = ["detect-players", str(clip), "--frame", "3", "--weights", str(yolo_weights)]
    assert main([*argv, "--scratch-dir", str(tmp_path / "s")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "success" and doc["video_width"] == 320
    bad = ["detect-ball", str(clip), "--start", "50", "--end", "60", "--weights", str(yolo_weights)]
    assert main([*bad, "--scratch-dir", str(tmp_path / "s")]) != 0


def test_the_clients_async_calls_answer_the_same_off_the_event_loop(
    yolo_weights: Path, settings: Settings, bucket: Bucket, tmp_path: Path
) -> None:
    """``pipeline.client.detect_players`` / ``detect_ball`` run the same code in a thread:
    the same answers, while the loop keeps ticking."""
    import asyncio

    from pipeline import client

    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0, audio=False)
    key = upload_clip(bucket, "u", clip)
    configured = settings.replace(yolo_weights=yolo_weights)

    async def both() -> tuple[dict[str, object], dict[str, object], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(ticker())
        players = await client.detect_players(configured, "u", key, 12, 0.0, bucket=bucket)
        ball = await client.detect_ball(configured, "u", key, 3, 9, bucket=bucket)
        beat.cancel()
        return players, ball, ticks

    players, ball, ticks = asyncio.run(both())
    assert players == detect_players(bucket, configured, "u", key, 12, 0.0)
    assert ball == detect_ball(bucket, configured, "u", key, 3, 9)
    assert ticks > 3

"""The ``yolo`` backend: ultralytics YOLO, players (COCO person) and the ball
(COCO sports ball), batched, on the GPU in fp16 when there is one.

Weights come from a file (``REELPIPE_YOLO_WEIGHTS``; on Modal a Volume), loaded
once per process and shared. Nothing is ever downloaded: ultralytics runs with
``YOLO_OFFLINE=1`` and its settings in a directory of ours, removed once it is
imported (:mod:`pipeline.detect.offline`); a missing file is a ConfigError naming
the setting.

Example::

    detector = YoloDetector(load_yolo(Path("/weights/yolov8n.pt"), config_dir))
    found = detector.detect([rgb_frame_640])
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.detect.contract import BALL, PLAYER, FrameDetections
from pipeline.detect.offline import import_offline

COCO_PERSON, COCO_SPORTS_BALL = 0, 32
PLAYER_NAMES = ("person", "player")
BALL_NAMES = ("sports ball", "ball")


def load_yolo(weights: Path | None, config_dir: Path) -> Any:
    """The YOLO model saved at ``weights``, loaded once per process per path."""
    if weights is None:
        raise ConfigError(
            "the yolo backend needs weights: set REELPIPE_YOLO_WEIGHTS to a .pt file "
            "(or choose the motion backend: --backend motion on the command line, "
            '"backend": "motion" in a manifest\'s detect block)'
        )
    if not weights.is_file():
        raise ConfigError(f"REELPIPE_YOLO_WEIGHTS: no weights file at {weights}")
    try:
        import_offline("ultralytics", config_dir)
    except ImportError as exc:
        raise ConfigError(
            "the yolo backend needs the ml extra: pip install 'reelpipe[ml]'"
        ) from exc
    return _load(str(weights.resolve()))


@functools.cache
def _load(path: str) -> Any:
    ultralytics: Any = importlib.import_module("ultralytics")  # imported offline above
    return ultralytics.YOLO(path, task="detect")


def _class_index(names: dict[int, str], wanted: tuple[str, ...], coco: int) -> int:
    for index, name in names.items():
        if name.lower() in wanted:
            return int(index)
    return coco


class YoloDetector:
    """Players and the ball from one YOLO model."""

    name = "yolo"
    classes: tuple[str, ...] = ("player", "ball")

    def __init__(self, model: Any, *, imgsz: int = 640, confidence: float = 0.1) -> None:
        import torch

        self.model = model
        self.input_width = imgsz
        self.imgsz = imgsz
        self.confidence = confidence
        self.device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.half = self.device != "cpu"
        self._torch = torch
        names: dict[int, str] = dict(model.names)
        self._player = _class_index(names, PLAYER_NAMES, COCO_PERSON)
        self._ball = _class_index(names, BALL_NAMES, COCO_SPORTS_BALL)

    def detect(self, images: list[np.ndarray]) -> list[FrameDetections]:
        """One batched forward pass over ``images`` (RGB)."""
        if not images:
            return []
        if self.device == "cpu":
            # ultralytics sets torch to one core fewer than the machine has (one of two
            # here) when its predictor starts; the decoder is idle while the model runs.
            self._torch.set_num_threads(os.cpu_count() or 1)
        results = self.model.predict(
            [np.ascontiguousarray(img[..., ::-1]) for img in images],  # ultralytics wants BGR
            imgsz=self.imgsz,
            conf=self.confidence,
            classes=[self._player, self._ball],
            device=self.device,
            verbose=False,
            **({"quantize": 16} if self.half else {}),  # fp16 on a GPU
        )
        return [self._convert(r) for r in results]

    def _convert(self, result: Any) -> FrameDetections:
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
        raw = boxes.cls.cpu().numpy().astype(np.int64)
        scores = boxes.conf.cpu().numpy().astype(np.float64)
        classes = np.where(raw == self._ball, BALL, PLAYER)
        return FrameDetections(xyxy.reshape(-1, 4), classes, scores)

"""Choose and build the detector a detect request asks for."""

from __future__ import annotations

from pipeline.core.settings import Settings
from pipeline.detect.contract import Detector
from pipeline.detect.motion import MotionDetector
from pipeline.manifests.job import DetectBackend, DetectParams


def select_detector(settings: Settings, params: DetectParams) -> Detector:
    """``yolo`` (weights required), ``motion``, or ``auto``: yolo when weights are set."""
    backend = params.backend
    if backend is DetectBackend.AUTO:
        backend = DetectBackend.YOLO if settings.models.yolo_weights else DetectBackend.MOTION
    if backend is DetectBackend.MOTION:
        return MotionDetector()
    from pipeline.detect.yolo import YoloDetector, load_yolo

    model = load_yolo(settings.models.yolo_weights, settings.scratch_dir / "ultralytics")
    confidence = min(params.confidence, params.ball_confidence)
    return YoloDetector(model, imgsz=settings.models.yolo_imgsz, confidence=confidence)

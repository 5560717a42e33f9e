"""The interactive detection calls, for apps that let a user pick a player
(or check the ball) before submitting a job.

    detect_players(bucket, settings, "user123", "videos/game.mp4", frame_number=100)
    # {"status": "success", "detections": [{"bbox": [x1, y1, x2, y2], "confidence": 0.91,
    #   "class": "person", "center": [x, y]}, ...], "frame_number": 100,
    #   "video_width": 1920, "video_height": 1080}

    detect_ball(bucket, settings, "user123", "videos/game.mp4", start_frame=0, end_frame=300)
    # {"status": "success", "ball_positions": [{"frame": 0, "x": 960.5, "y": 540.0,
    #   "confidence": 0.42, "bbox": [...]}, ...], "frames_analyzed": 300,
    #   "video_width": 1920, "video_height": 1080}

``detect_players`` uses the yolo backend (``REELPIPE_YOLO_WEIGHTS``) unless told
``backend=motion`` (what moves, no weights), ``detect_ball`` always; coordinates are upright
source pixels, as highlight clicks expect. Problems raise the project's errors
(on Modal, ``.remote()`` raises them again in the caller).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputNotFound, ObjectNotFound, StageParamsInvalid
from pipeline.core.settings import Settings
from pipeline.detect.backends import select_detector
from pipeline.detect.clip_detection import detect_frames
from pipeline.detect.contract import BALL, PLAYER, FrameDetections
from pipeline.manifests.job import DetectBackend, DetectParams
from pipeline.media.codec import even
from pipeline.media.probe import VideoInfo, probe
from pipeline.stages.base import check_limits, check_size
from pipeline.storage.bucket import Bucket

MAX_BALL_FRAMES = 3000  # one call analyses at most this many frames
MOTION_CONTEXT_S = 1.0  # the motion backend learns the scene from this much before


def detect_players(
    bucket: Bucket,
    settings: Settings,
    user_id: str,
    input_key: str,
    frame_number: int,
    confidence_threshold: float = 0.5,
    backend: DetectBackend = DetectBackend.YOLO,
) -> dict[str, Any]:
    """The players (COCO person) on one frame, most confident first. With the ``motion``
    backend (no weights), what moves there: the frames of the second before it are
    decoded too, for the background model to learn the scene."""
    with _fetched(bucket, settings, user_id, input_key) as (path, info):
        _check_frames(info, frame_number, frame_number + 1)
        chosen = _chosen(backend, settings)
        context = round(MOTION_CONTEXT_S * float(info.fps)) if chosen is DetectBackend.MOTION else 0
        start = max(0, frame_number - context)
        found = _detect(path, info, settings, (start, frame_number + 1), chosen)
    det = found[frame_number]
    players = [
        {
            "bbox": [round(float(v), 1) for v in box],
            "confidence": round(float(score), 3),
            "class": "person",
            "center": [round(float(box[0] + box[2]) / 2, 1), round(float(box[1] + box[3]) / 2, 1)],
        }
        for box, cls, score in zip(det.xyxy, det.classes, det.scores, strict=True)
        if cls == PLAYER and score >= confidence_threshold
    ]
    players.sort(key=lambda d: -float(d["confidence"]))  # type: ignore[arg-type]
    return {
        "status": "success",
        "detections": players,
        "frame_number": frame_number,
        **_size(info),
    }


def detect_ball(
    bucket: Bucket,
    settings: Settings,
    user_id: str,
    input_key: str,
    start_frame: int,
    end_frame: int,
    confidence_threshold: float = 0.3,
) -> dict[str, Any]:
    """The ball's most confident position on each frame of ``[start_frame, end_frame)``
    where it was found."""
    if end_frame - start_frame > MAX_BALL_FRAMES:
        raise StageParamsInvalid(
            f"detect_ball analyses at most {MAX_BALL_FRAMES} frames a call; "
            f"got {end_frame - start_frame}"
        )
    with _fetched(bucket, settings, user_id, input_key) as (path, info):
        end_frame = min(end_frame, info.frame_count)
        _check_frames(info, start_frame, end_frame)
        found = _detect(path, info, settings, (start_frame, end_frame), DetectBackend.YOLO)
    positions = []
    for frame in sorted(found):
        best = _best_ball(found[frame], confidence_threshold)
        if best is not None:
            positions.append({"frame": frame, **best})
    return {
        "status": "success",
        "ball_positions": positions,
        "frames_analyzed": end_frame - start_frame,
        **_size(info),
    }


class _fetched:
    """Download the user's clip into a private scratch folder; removed afterwards."""

    def __init__(self, bucket: Bucket, settings: Settings, user_id: str, input_key: str) -> None:
        self.key = bucket.layout.user_key(user_id, input_key)
        self.bucket, self.settings = bucket, settings
        self.scratch = settings.scratch_dir / "interactive" / uuid.uuid4().hex

    def __enter__(self) -> tuple[Path, VideoInfo]:
        try:
            check_size(self.bucket.head(self.key).size, self.settings.limits)
            path = self.bucket.download_file(self.key, self.scratch / "clip.mp4")
        except ObjectNotFound:
            raise InputNotFound(f"input_key: no such clip at {self.key!r}") from None
        info = probe(path)
        check_limits(info, self.settings.limits)
        return path, info

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def _check_frames(info: VideoInfo, start: int, end: int) -> None:
    if start < 0 or end <= start or start >= info.frame_count:
        raise StageParamsInvalid(
            f"frames [{start}, {end}) are outside the clip's {info.frame_count} frames"
        )


def _chosen(backend: DetectBackend, settings: Settings) -> DetectBackend:
    """``auto`` made concrete: yolo when weights are set, else motion."""
    if backend is DetectBackend.AUTO:
        return DetectBackend.YOLO if settings.models.yolo_weights else DetectBackend.MOTION
    return backend


def _detect(
    path: Path,
    info: VideoInfo,
    settings: Settings,
    span: tuple[int, int],
    backend: DetectBackend,
) -> dict[int, FrameDetections]:
    detector = select_detector(settings, DetectParams(backend=backend, confidence=0.05))
    start, end = span
    return detect_frames(
        path, info, detector, start=start, end=end, batch_size=settings.models.detect_batch
    )


def _best_ball(det: FrameDetections, confidence: float) -> dict[str, Any] | None:
    balls = (det.classes == BALL) & (det.scores >= confidence)
    if not balls.any():
        return None
    i = int(max(range(len(det.scores)), key=lambda k: det.scores[k] if balls[k] else -1.0))
    x1, y1, x2, y2 = (float(v) for v in det.xyxy[i])
    return {
        "x": round((x1 + x2) / 2, 1),
        "y": round((y1 + y2) / 2, 1),
        "confidence": round(float(det.scores[i]), 3),
        "bbox": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)],
    }


def _size(info: VideoInfo) -> dict[str, int]:
    return {"video_width": even(info.display_width), "video_height": even(info.display_height)}

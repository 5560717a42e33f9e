"""Detection throughput on this machine's CPU, and what follow + overlay add to framing.

Part 1, frames/s of a 1080p30 clip at YOLO's 640 px input (yolov8n built from its
config: random weights run exactly as fast as trained ones):
  (a) decode + scale to 640 only (the floor: no model),
  (b) naive: one predict call per frame,
  (c) batched: 8 frames a call,
  (d) batched, stride 3 (every third frame, the tracker + interpolation fill the rest),
  (e) the motion backend (no model), every frame.
Part 2, whole jobs on the same clip through the orchestrator (embedded S3):
  framing with a centred 9:16 crop, against detect (motion) + framing following
  the action + overlay on a clicked player.

Usage (from the repository root): python -m bench.detect_throughput [--seconds 4] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.measure import Timing, best, median, time_call
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.detect.clip_detection import detect_frames, scaled_rgb, tracking
from pipeline.detect.motion import MotionDetector
from pipeline.detect.offline import offline_environment
from pipeline.detect.yolo import YoloDetector, load_yolo
from pipeline.jobs.claim import claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import StatusManifest
from pipeline.media.frames import FrameReader
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.runners.local import LocalRunner
from pipeline.storage.connection import connect


class PerFrame:
    """The naive loop: the same detector, called with one frame at a time."""

    def __init__(self, inner: YoloDetector) -> None:
        self.inner, self.name, self.classes = inner, inner.name, inner.classes
        self.input_width = inner.input_width

    def detect(self, images: list) -> list:  # type: ignore[type-arg]
        return [d for image in images for d in self.inner.detect([image])]


def decode_only(path: Path) -> None:
    info = probe(path)
    with FrameReader(path, info) as reader:
        for frame in reader.frames():
            scaled_rgb(frame, 640)


def run_job(settings: Settings, clip: Path, stages: dict[str, object], tag: str) -> StatusManifest:
    with connect(settings) as conn:
        key = upload_clip(conn.bucket, "bench", clip)
        inbox = submit_manifest(
            conn.bucket, "bench", {"input_key": key, "stages": stages}, request_id=tag
        )
        job = claim(conn.bucket, inbox.inbox_key)
        assert job is not None
        status = Worker(conn.bucket, conn.settings, LocalRunner(conn.bucket, conn.settings)).run(
            job
        )
        assert status is not None and status.state.value == "succeeded", status
        return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reelpipe-bench-"))
    offline_environment(work / "ultralytics")
    from ultralytics import YOLO

    weights = work / "yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    clip = work / "game-1080p.mp4"
    truth = write_sample_clip(clip, width=1920, height=1080, duration_s=args.seconds)
    info = probe(clip)
    model = load_yolo(weights, work / "ultralytics")
    yolo = YoloDetector(model, confidence=0.1)
    yolo.detect([np.zeros((360, 640, 3), np.uint8)])  # warm-up: the first call sets up
    paths = {
        "(a) decode + scale to 640, no model (floor)": lambda: decode_only(clip),
        "(b) yolov8n, one frame a call": lambda: detect_frames(
            clip, info, PerFrame(yolo), batch_size=1
        ),
        "(c) yolov8n, 8 frames a call": lambda: detect_frames(clip, info, yolo, batch_size=8),
        "(d) yolov8n, 8 a call, stride 3 + tracking": lambda: detect_frames(
            clip, info, yolo, batch_size=8, stride=3, tracker=tracking()
        ),
        "(e) motion backend, every frame": lambda: detect_frames(clip, info, MotionDetector()),
    }
    timings: dict[str, list[Timing]] = {k: [] for k in paths}
    for _ in range(args.runs):
        for label, fn in paths.items():
            timings[label].append(time_call(fn))
    print(
        f"clip: 1920x1080 {truth.fps} fps {args.seconds:g} s ({info.frame_count} frames), "
        f"YOLO input 640, torch on CPU, {os.cpu_count()} cores, best / median of {args.runs}"
    )
    print("| path | best wall s | clip frames/s (best) | clip frames/s (median) | cores busy |")
    print("| --- | --- | --- | --- | --- |")
    for label, runs in timings.items():
        b, m = best(runs), median(runs)
        print(
            f"| {label} | {b.wall_s:.2f} | {info.frame_count / b.wall_s:.1f} | "
            f"{info.frame_count / m.wall_s:.1f} | {b.cores_busy:.2f} |"
        )

    settings = Settings.from_env({}, scratch_dir=work / "scratch", progress_interval_s=1.0)
    x, y, w, h = truth.boxes[15, 0]
    click = {"frame": 15, "x": float(x + w / 2), "y": float(y + h / 2)}
    jobs = {
        "framing, centred 9:16": {"framing": {"aspect": "9:16"}},
        "detect (motion) + framing follow 9:16 + overlay (click)": {
            "framing": {"aspect": "9:16", "follow": "action"},
            "overlay": {"highlight": click},
        },
    }
    print("\n| job | stage seconds (best of runs) | total s |")
    print("| --- | --- | --- |")
    for n, (label, stages) in enumerate(jobs.items()):
        results = [run_job(settings, clip, stages, f"job{n}-{r}") for r in range(args.runs)]
        fastest = min(results, key=lambda s: s.duration_s or 0.0)
        parts = ", ".join(f"{k.value} {v.duration_s:.2f}" for k, v in fastest.stages.items())
        print(f"| {label} | {parts} | {fastest.duration_s:.2f} |")


if __name__ == "__main__":
    main()

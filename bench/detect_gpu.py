"""YOLO frames/s on an NVIDIA GPU at batch 1, 8 and 32 in fp16 (run where one is at hand).

The model is built from its config (random weights run as fast as trained
ones) and fed 640x360 frames already in memory, so the figure is the model's
own throughput; CUDA is synchronised around each timed call.
Usage: python -m bench.detect_gpu [--model yolov8n.yaml] [--iters 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.detect.offline import offline_environment


def yolo_rows(model_config: str, iters: int) -> dict[int, float]:
    """YOLO frames/s by batch size (1, 8, 32), fp16 on the first CUDA device; prints a table."""
    offline_environment(Path(tempfile.mkdtemp()) / "ultralytics")
    import torch
    from ultralytics import YOLO

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs an NVIDIA GPU")
    model = YOLO(model_config)
    frames = [np.random.default_rng(i).integers(0, 255, (360, 640, 3), np.uint8) for i in range(32)]
    print(f"device: {torch.cuda.get_device_name(0)}, model {model_config}, input 640, fp16")
    print("| batch | frames/s | ms per batch |")
    print("| --- | --- | --- |")
    found: dict[int, float] = {}
    for batch in (1, 8, 32):
        images = frames[:batch]
        for _ in range(3):  # warm-up: cuDNN picks its kernels
            model.predict(images, imgsz=640, device="cuda:0", quantize=16, verbose=False)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(iters):
            model.predict(images, imgsz=640, device="cuda:0", quantize=16, verbose=False)
        torch.cuda.synchronize()
        per_batch = (time.perf_counter() - started) / iters
        found[batch] = batch / per_batch
        print(f"| {batch} | {found[batch]:.0f} | {per_batch * 1000:.1f} |")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n.yaml")
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    yolo_rows(args.model, args.iters)


if __name__ == "__main__":
    main()

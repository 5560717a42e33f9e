"""Upscale speed on this CPU: 640x360 -> 1280x720.

Rows: the model (the realesr-animevideov3 architecture: 64 features, 16
convolutions, x4 then resized to x2; random weights, since speed does not
depend on them) with tiling on (256 px tiles) and off, and the classical
backend. Each row runs in a fresh process so its peak memory (max RSS) is its
own; the memory rows repeat the model at 1280x720 in, where whole-frame
activations (64 x H x W floats per layer) dominate what tiling bounds.

Usage (from the repository root): python -m bench.upscale_cpu [--frames 8]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 360


def frames(count: int, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (
            rng.integers(16, 235, (height, width), dtype=np.uint8),
            rng.integers(16, 240, (height // 2, width // 2), dtype=np.uint8),
            rng.integers(16, 240, (height // 2, width // 2), dtype=np.uint8),
        )
        for _ in range(count)
    ]


def run_one(config: str, count: int, width: int, height: int) -> dict[str, float]:
    """Measure one configuration in this process."""
    from pipeline.superres.backends import ClassicalUpscaler, ModelUpscaler, Upscaler

    upscaler: Upscaler
    if config == "classical":
        upscaler = ClassicalUpscaler(2)
    else:
        import torch

        from pipeline.superres.srvgg import SRVGGNetCompact

        weights = Path(tempfile.mkdtemp()) / "animevideov3-shaped.pth"
        torch.manual_seed(0)
        net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)
        torch.save({"params_ema": net.state_dict()}, weights)
        tile = 256 if config == "model-tiled" else 0
        upscaler = ModelUpscaler(weights, 2, tile=tile)
    batch = frames(count, width, height)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    upscaler.upscale_batch(batch[:1])  # warm-up (counted in the peak)
    started = time.perf_counter()
    for frame in batch:
        upscaler.upscale_batch([frame])
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"fps": count / elapsed, "peak_mb": peak / 1024, "growth_mb": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        width, height = (int(v) for v in args.size.split("x"))
        print(json.dumps(run_one(args.one, args.frames, width, height)))
        return
    print(f"batch 1, fp32 on {os.cpu_count()} CPU cores, x2 output")
    print("| backend | input | frames/s | peak RSS MB | RSS growth while upscaling MB |")
    print("| --- | --- | --- | --- | --- |")
    runs = [
        ("classical", f"{WIDTH}x{HEIGHT}", args.frames),
        ("model-tiled", f"{WIDTH}x{HEIGHT}", args.frames),
        ("model-untiled", f"{WIDTH}x{HEIGHT}", args.frames),
        ("model-tiled", "1280x720", 1),
        ("model-untiled", "1280x720", 1),
    ]
    for config, size, count in runs:
        cmd = [sys.executable, "-m", "bench.upscale_cpu", "--one", config]
        cmd += ["--frames", str(count), "--size", size]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {config} | {size} | {r['fps']:.2f} | {r['peak_mb']:.0f} | {r['growth_mb']:.0f} |")


if __name__ == "__main__":
    main()

"""The GPU figures of the compute table, measured on an NVIDIA machine in one run.

1. Overlay frames/s, NVENC against x264, on the same 1080p30 clip (the stage's own
   loop: decode, spotlight, encode), next to a bare ffmpeg x264 encode;
2. YOLO frames/s in fp16 at batch 1, 8 and 32 (``bench.detect_gpu``'s loop);
3. upscale frames/s in fp16, 720p in, 1440p out (the realesr-animevideov3 shape,
   random weights: speed does not depend on them), batch 1, 4 and 8.

It ends with the ``fps`` entries to put in ``settings.costs.compute``
(``REELPIPE_COMPUTE``) for this GPU kind.
Models are built from their configs; nothing is downloaded.

Usage: python -m bench.gpu [--seconds 10] [--kind T4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.detect_gpu import yolo_rows
from pipeline.core.settings import EncodeProfile
from pipeline.follow.highlight_track import HighlightTrack
from pipeline.manifests.job import OverlayParams
from pipeline.media.encoders import NVENC, X264, nvenc_opens
from pipeline.media.frames import split_i420
from pipeline.media.probe import probe
from pipeline.media.sample import write_sample_clip
from pipeline.render.spotlight import Spotlight
from pipeline.stages.overlay import OverlayStep, render_highlight

PROFILE = EncodeProfile(preset="fast", crf=23)


def overlay_rows(work: Path, seconds: float) -> dict[str, float]:
    """Overlay frames/s with each encoder on a 1080p clip."""
    src = work / "game-1080p.mp4"
    truth = write_sample_clip(src, width=1920, height=1080, duration_s=seconds)
    info = probe(src)
    boxes = OverlayParams.model_validate(
        {"highlight": {"boxes": truth.keyframes(0, every=10)}}
    ).highlight.boxes
    assert boxes is not None
    track = HighlightTrack(boxes)
    found: dict[str, float] = {}
    print("| overlay encoder | frames/s | x x264 |")
    print("| --- | --- | --- |")
    for encoder in (X264, NVENC):
        step = OverlayStep(track, Spotlight(), encoder)
        began = time.perf_counter()
        frames = render_highlight(
            src, work / f"{encoder}.mp4", info, step, PROFILE, lambda f: None, encoder=encoder
        )
        found[encoder] = frames / (time.perf_counter() - began)
        print(f"| {encoder} | {found[encoder]:.0f} | {found[encoder] / found[X264]:.2f}x |")
    return found


def upscale_rows(work: Path, iters: int) -> dict[int, float]:
    """Upscale frames/s at 720p -> 1440p in fp16, by batch size."""
    import torch

    from pipeline.superres.backends import ModelUpscaler
    from pipeline.superres.srvgg import SRVGGNetCompact

    net = SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)
    weights = work / "realesr-animevideov3-random.pth"
    torch.save({"params": net.state_dict()}, weights)
    upscaler = ModelUpscaler(weights, 2, tile=0, device="cuda")
    rgb = np.random.default_rng(0).integers(0, 255, (720 * 3 // 2, 1280), np.uint8)
    planes = split_i420(rgb, 1280, 720)
    found: dict[int, float] = {}
    print("| upscale batch (720p -> 1440p, fp16) | frames/s |")
    print("| --- | --- |")
    for batch in (1, 4, 8):
        upscaler.upscale_batch([planes] * batch)  # warm-up: cuDNN picks its kernels
        torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(iters):
            upscaler.upscale_batch([planes] * batch)
        torch.cuda.synchronize()
        found[batch] = batch * iters / (time.perf_counter() - began)
        print(f"| {batch} | {found[batch]:.1f} |")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--kind", default="T4", help="the GPU kind, for the table's key")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available() or not nvenc_opens():
        raise SystemExit("no CUDA device with NVENC here: this benchmark needs an NVIDIA GPU")
    work = Path(tempfile.mkdtemp(prefix="reelpipe-gpu-"))
    print(f"device: {torch.cuda.get_device_name(0)}\n")
    overlay = overlay_rows(work, args.seconds)
    print()
    detect = yolo_rows("yolov8n.yaml", args.iters)
    print()
    upscale = upscale_rows(work, args.iters)
    print(
        f'\nSettings.compute["{args.kind}"].fps = {{"overlay": {overlay[NVENC]:.0f}, '
        f'"detect": {detect[8]:.0f}, "upscale": {upscale[4]:.1f}}}'
    )


if __name__ == "__main__":
    main()

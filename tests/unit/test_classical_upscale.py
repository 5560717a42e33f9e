"""The classical upscaler: better than bicubic on a real photo, exact sizes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.media.frames import split_i420
from pipeline.superres.backends import ClassicalUpscaler


def sample_photo() -> np.ndarray:
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path))
    assert image is not None, path
    h, w = image.shape[:2]
    return cv2.cvtColor(image[: h - h % 2, : w - w % 2], cv2.COLOR_BGR2RGB)


def upscale_rgb(image: np.ndarray, scale: int) -> np.ndarray:
    """An RGB image through the stage's own path: to yuv420p planes, upscaled, back."""
    height, width = image.shape[:2]
    planes = split_i420(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), width, height)
    ((y, u, v),) = ClassicalUpscaler(scale).upscale_batch([planes])
    i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    result: np.ndarray = cv2.cvtColor(
        i420.reshape(height * scale * 3 // 2, width * scale), cv2.COLOR_YUV2RGB_I420
    )
    return result


def upscale_rgb_bicubic(image: np.ndarray, scale: int) -> np.ndarray:
    """The same round trip through yuv420p, resized with bicubic instead (fair: both lose
    the same chroma)."""
    height, width = image.shape[:2]
    planes = split_i420(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), width, height)
    big = [
        cv2.resize(p, (p.shape[1] * scale, p.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        for p in planes
    ]
    i420 = np.concatenate([p.reshape(-1) for p in big])
    result: np.ndarray = cv2.cvtColor(
        i420.reshape(height * scale * 3 // 2, width * scale), cv2.COLOR_YUV2RGB_I420
    )
    return result


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def test_classical_beats_bicubic_on_a_real_photo() -> None:
    """Downscale a photo x2, upscale it back: Lanczos + unsharp is closer than bicubic."""
    original = sample_photo()
    h, w = original.shape[:2]
    small = cv2.resize(original, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    bicubic = upscale_rgb_bicubic(small, 2)
    ours = upscale_rgb(small, 2)
    assert ours.shape == original.shape
    assert psnr(ours, original) > psnr(bicubic, original)


def test_classical_upscaler_doubles_planes() -> None:
    """Planes come back exactly twice as large."""
    y = np.zeros((18, 32), np.uint8)
    u = np.zeros((9, 16), np.uint8)
    (out,) = ClassicalUpscaler(2).upscale_batch([(y, u, u)])
    assert [p.shape for p in out] == [(36, 64), (18, 32), (18, 32)]

"""The classical upscaler: better than bicubic on a real photo, exact sizes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.superres.backends import ClassicalUpscaler
from pipeline.superres.classical import upscale_plane


def sample_photo() -> np.ndarray:
    matplotlib = pytest.importorskip("matplotlib")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path))
    assert image is not None, path
    h, w = image.shape[:2]
    return cv2.cvtColor(image[: h - h % 2, : w - w % 2], cv2.COLOR_BGR2RGB)


def upscale_rgb(image: np.ndarray, scale: int) -> np.ndarray:
    """An RGB image upscaled plane by plane as the stage does (sharpening its luma)."""
    height, width = image.shape[:2]
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    channels = [
        upscale_plane(ycrcb[:, :, i], width * scale, height * scale, sharpen=i == 0)
        for i in range(3)
    ]
    result: np.ndarray = cv2.cvtColor(np.dstack(channels), cv2.COLOR_YCrCb2RGB)
    return result


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def test_classical_beats_bicubic_on_a_real_photo() -> None:
    """Downscale a photo x2, upscale it back: Lanczos + unsharp is closer than bicubic."""
    original = sample_photo()
    h, w = original.shape[:2]
    small = cv2.resize(original, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    bicubic = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    ours = upscale_rgb(small, 2)
    assert ours.shape == original.shape
    assert psnr(ours, original) > psnr(bicubic, original)


def test_classical_upscaler_doubles_planes() -> None:
    """Planes come back exactly twice as large."""
    y = np.zeros((18, 32), np.uint8)
    u = np.zeros((9, 16), np.uint8)
    (out,) = ClassicalUpscaler(2).upscale_batch([(y, u, u)])
    assert [p.shape for p in out] == [(36, 64), (18, 32), (18, 32)]

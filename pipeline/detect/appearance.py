"""What a detected box looks like: a small colour histogram, to tell players apart.

Positions alone cannot say who is who when two players cross or a blob comes
back after an occlusion; their colours can (shirts, shorts, skin). Each box
gets a 32-bin histogram of the pixels in its middle, weighted towards the
centre (where the player is, rather than the grass around him), each colour
weighted down when it covers much of the whole frame (as the background-weighted
histogram of mean-shift tracking does: the pitch's green says nothing about
who is who, a shirt's red does):
8 hues x 3 saturations for coloured pixels and 8 brightness levels for grey
ones (white, black, shadow). It is computed in the detect pass, on the frame
the detector already has, and stored in ``detections.json`` as 32 bytes in
base64 per box, so the follow can compare looks without decoding the clip.

Example::

    looks = describe(rgb, boxes_xyxy)          # one histogram per box
    similarity(looks[0], looks[1])   # 1.0: the same colours, 0: none in common
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.manifests.detections import APPEARANCE_BINS as BINS

HUES, SATURATIONS, GREYS = 8, 3, 8
assert HUES * SATURATIONS + GREYS == BINS
MIN_SATURATION = 60  # of 255: below it a pixel counts as grey
MIN_VALUE = 40  # of 255: darker pixels are grey (their hue is noise)
COMMON = 0.05  # a colour on more of the frame than this counts less, in proportion
INNER = (0.2, 0.1, 0.8, 0.9)  # the part of the box described (x1, y1, x2, y2 fractions)


def describe(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, BINS) normalised histograms of ``boxes`` (N, 4) xyxy in ``image`` (RGB) pixels;
    an all-zero row where a box is too small to describe."""
    out = np.zeros((len(boxes), BINS))
    if not len(boxes):
        return out
    height, width = image.shape[:2]
    # Only the pixels used are converted: every 4th for the frame's colours, then each
    # box's middle (a dozen boxes are a fraction of a 1080p frame).
    common = _bins(_hsv(image[::4, ::4]))
    frame = np.bincount(common.ravel(), minlength=BINS) / max(1, common.size)
    rarity = np.minimum(1.0, COMMON / np.maximum(frame, 1e-9))
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64)):
        w, h = x2 - x1, y2 - y1
        ax = int(np.clip(x1 + INNER[0] * w, 0, width))
        bx = int(np.clip(x1 + INNER[2] * w, 0, width))
        ay = int(np.clip(y1 + INNER[1] * h, 0, height))
        by = int(np.clip(y1 + INNER[3] * h, 0, height))
        if bx - ax < 2 or by - ay < 2:
            continue
        hist = _histogram(_bins(_hsv(image[ay:by, ax:bx]))) * rarity
        total = hist.sum()
        out[i] = hist / total if total > 0 else hist
    return out


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` in OpenCV's HSV (hue 0-179): the space the bins are cut in."""
    hsv: np.ndarray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    return hsv


def _bins(hsv: np.ndarray) -> np.ndarray:
    """Each pixel's bin, (rows, cols), of an HSV patch."""
    h, s, v = (hsv[..., k].astype(np.int32) for k in range(3))
    coloured = (s >= MIN_SATURATION) & (v >= MIN_VALUE)
    hue_bin = np.minimum(h * HUES // 180, HUES - 1)
    sat_bin = np.minimum((s - MIN_SATURATION) * SATURATIONS // (256 - MIN_SATURATION), 2)
    grey_bin = HUES * SATURATIONS + np.minimum(v * GREYS // 256, GREYS - 1)
    index: np.ndarray = np.where(coloured, hue_bin * SATURATIONS + sat_bin, grey_bin)
    return index


def _histogram(index: np.ndarray) -> np.ndarray:
    rows, cols = index.shape
    across = ((np.arange(cols) - (cols - 1) / 2) / (cols / 2)) ** 2
    down = ((np.arange(rows) - (rows - 1) / 2) / (rows / 2)) ** 2
    r2 = across[None, :] + down[:, None]
    weight = np.clip(1.0 - r2, 0.05, None).reshape(-1)  # Epanechnikov: the centre counts most
    hist = np.bincount(index.ravel(), weights=weight, minlength=BINS).astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else hist


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The Bhattacharyya coefficient of two histograms: 1 for the same colours, 0 for
    none in common (NaN when either is undescribed)."""
    if not a.any() or not b.any():
        return float("nan")
    return float(np.sqrt(a * b).sum())

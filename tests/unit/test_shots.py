"""Shot boundaries: a hard cut is found once; flashes, pans and motion are not cuts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.detect.shots import ShotCuts, histogram
from pipeline.follow.camera_path import CameraView, crop_path
from pipeline.media.frames import YuvFrame

VIEW = CameraView(1920, 1080, 606, 1080, 30.0)  # a 9:16 window over 1080p30

W, H = 160, 90


def frame(index: int, luma: np.ndarray, u: int = 128, v: int = 128) -> YuvFrame:
    chroma = np.full((H // 2, W // 2), u, np.uint8)
    return YuvFrame.from_planes(index, luma, chroma, np.full_like(chroma, v))


def gradient(offset: float) -> np.ndarray:
    """A left-to-right ramp shifted by ``offset`` pixels (a camera panning)."""
    xs = (np.arange(W) + offset) * 1.5 % 256
    return np.tile(xs.astype(np.uint8), (H, 1))


def cuts_of(frames: list[YuvFrame], fps: float = 25.0) -> list[int]:
    shots = ShotCuts(fps)
    for f in frames:
        shots.add(f)
    return shots.cuts


def test_a_hard_cut_is_found_at_its_first_frame() -> None:
    first = [frame(i, gradient(i)) for i in range(20)]
    second = [frame(20 + i, np.full((H, W), 40, np.uint8), u=90, v=170) for i in range(20)]
    assert cuts_of(first + second) == [20]


def test_a_clip_that_opens_on_a_frame_unlike_the_next_has_no_one_frame_shot() -> None:
    """Frame 0 (a title, a black frame) unlike the shot that follows: no cut at frame 1,
    the opening shot is as long as any other at least."""
    opening = [frame(0, np.full((H, W), 250, np.uint8), u=60, v=200)]
    shot = [frame(1 + i, gradient(i)) for i in range(30)]
    assert cuts_of(opening + shot) == []


def test_a_cut_between_two_shots_of_one_palette_is_found_by_their_layout() -> None:
    """The same colours, rearranged (a close-up of one face, then of another in the same
    room): the histograms barely change, the layout does."""
    left = np.zeros((H, W), np.uint8)
    left[:, : W // 2] = 200
    right = left[:, ::-1].copy()
    first = [frame(i, left) for i in range(20)]
    second = [frame(20 + i, right) for i in range(20)]
    assert cuts_of(first + second) == [20]


def test_a_pan_and_a_flash_are_not_cuts() -> None:
    """A steady pan changes every frame a little; a one-frame flash comes back."""
    frames = [frame(i, gradient(3 * i)) for i in range(40)]
    frames[15] = frame(15, np.full((H, W), 250, np.uint8))
    assert cuts_of(frames) == []


def test_a_jump_cut_between_two_look_alike_shots_is_found() -> None:
    """One still scene, then the same scene with its one bright object moved across
    (a jump cut on a fixed camera): the same colours and a layout change under its
    threshold, but many times the still shot's own (sensor noise only)."""
    noise = np.random.default_rng(3)
    before = np.full((H, W), 90, np.uint8)
    before[30:60, 10:50] = 200
    after = np.full((H, W), 90, np.uint8)
    after[30:60, 110:150] = 200

    def noisy(luma: np.ndarray) -> np.ndarray:
        return np.clip(luma + noise.integers(-2, 3, luma.shape), 0, 255).astype(np.uint8)

    frames = [frame(i, noisy(before)) for i in range(20)]
    frames += [frame(20 + i, noisy(after)) for i in range(20)]
    assert cuts_of(frames) == [20]


def test_a_still_camera_that_starts_a_whip_pan_is_not_cut() -> None:
    """Still for 15 frames, then 16 pixels a frame (a tenth of the width): the first
    moving frame is unlike the still ones by far, but the next moves as much again; a
    cut changes once."""
    texture = np.random.default_rng(7).integers(0, 256, (H, 6 * W)).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 6)
    scene = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    def view(x: int) -> np.ndarray:
        return np.ascontiguousarray(scene[:, x : x + W])

    frames = [frame(i, view(20)) for i in range(15)]
    frames += [frame(15 + i, view(20 + 16 * (i + 1))) for i in range(30)]
    assert cuts_of(frames) == []


def test_two_cuts_closer_than_the_minimum_shot_count_once() -> None:
    """Cuts 4 frames apart at 25 fps (< 0.5 s): only the first counts."""
    a = [frame(i, np.full((H, W), 30, np.uint8)) for i in range(15)]
    b = [frame(15 + i, np.full((H, W), 200, np.uint8), u=60) for i in range(4)]
    c = [frame(19 + i, np.full((H, W), 100, np.uint8), v=60) for i in range(20)]
    assert cuts_of(a + b + c) == [15]


def test_the_follow_camera_cuts_with_the_clip() -> None:
    """Targets jump from the left to the right at a cut: the window jumps at the cut
    frame (no pan across it); without the cut it would pan over several frames."""
    targets = np.array([[200.0, 540.0]] * 30 + [[1700.0, 540.0]] * 30)
    cut = crop_path(targets, VIEW, cuts=[30])
    smooth = crop_path(targets, VIEW)
    assert cut[29, 0] == 0 and cut[30, 0] == 1920 - 606
    assert set(cut[:30, 0]) == {0} and set(cut[30:, 0]) == {1920 - 606}
    assert len(set(smooth[25:45, 0].tolist())) > 5  # panning through


@pytest.mark.parametrize("cuts", [[], [0], [60], [5, 5, 90]])
def test_cuts_outside_the_clip_change_nothing(cuts: list[int]) -> None:
    targets = np.array([[960.0, 540.0]] * 60)
    path = crop_path(targets, VIEW, cuts=cuts)
    assert path.shape == (60, 2)


def test_the_camera_opens_on_the_first_target_not_the_frame_centre() -> None:
    # Nothing is known for the first 10 frames; the subject is at the far left after.
    targets = np.full((60, 2), np.nan)
    targets[10:] = (100.0, 540.0)
    path = crop_path(targets, VIEW)
    assert path[0, 0] == 0  # the window opens at the left edge, holding the subject
    assert (path[:, 0] == 0).all()  # and never wanders towards the centre


def test_a_frames_colour_signature_counts_each_sampled_pixel_in_its_bin() -> None:
    """Every 4th pixel of each plane, in 16 (Y) and 8 (U, V) equal bins of 0-255: the
    values at a bin's edges (15 | 16 for Y, 31 | 32 for U and V) and 0 and 255 land in
    their own bins, on a padded plane (a decoder's line size) as on a packed one; the
    pixels between the samples count for nothing."""
    luma = np.full((H, W), 200, np.uint8)  # never sampled: bin 12 stays empty
    sampled = luma[0::4, 0::4]  # 23 rows of 40 samples
    sampled[:, 0:10], sampled[:, 10:20], sampled[:, 20:30], sampled[:, 30:40] = 0, 15, 16, 255
    chroma = np.full((H // 2, W // 2), 200, np.uint8)
    u, v = chroma.copy(), chroma.copy()
    u[0::4, 0::4], v[0::4, 0::4] = 31, 32
    u[0::8, 0::4] = 255  # 6 of the 12 sampled chroma rows (0, 8, ... 40)
    signature = histogram(YuvFrame(0, luma, u, v, None))
    y_bins, u_bins, v_bins = signature[:16], signature[16:24], signature[24:]
    # 0 and 15 in the first bin, 16 in the second, 255 in the last; 200 (bin 12) unseen
    assert list(y_bins) == pytest.approx([0.5, 0.25, *[0.0] * 13, 0.25])
    assert u_bins[0] == pytest.approx(0.5) and u_bins[7] == pytest.approx(0.5)
    assert v_bins[1] == 1.0  # 32: the second of 8 bins
    padded = np.zeros((H, W + 32), np.uint8)[:, :W]  # a view with a longer line
    padded[:] = luma
    assert np.array_equal(histogram(YuvFrame(0, padded, u, v, None)), signature)

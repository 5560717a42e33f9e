"""The motion backend measures the camera's steps on a thread of its own, ahead of the
background subtraction: the detections are those of measuring each step in turn, and a
job's meter counts that thread's CPU (frames made here with numpy: a panning pitch)."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np

from pipeline.core.usage import metered
from pipeline.detect.camera_motion import IDENTITY, camera_step
from pipeline.detect.motion import MotionDetector

W, H = 320, 180


def panning(frames: int) -> list[np.ndarray]:
    """A textured pitch seen by a camera panning 2 px a frame, two players on it."""
    rng = np.random.default_rng(5)
    blocks = rng.integers(60, 200, (H // 4, (W + 2 * frames) // 4 + 1, 3), dtype=np.uint8)
    world = np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))
    views = []
    for f in range(frames):
        view = world[:H, 2 * f : 2 * f + W].copy()
        view[80:108, 60 + f : 70 + f] = (200, 30, 30)
        view[100:128, 200 - f : 210 - f] = (30, 30, 200)
        views.append(view)
    return views


def test_a_batch_gives_the_detections_of_one_frame_at_a_time() -> None:
    images = panning(40)
    batched, single = MotionDetector(input_width=W), MotionDetector(input_width=W)
    in_batches = [d for i in range(0, 40, 8) for d in batched.detect(images[i : i + 8])]
    one_by_one = [single.detect([image])[0] for image in images]
    for a, b in zip(in_batches, one_by_one, strict=True):
        assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)
        assert a.camera is not None and b.camera is not None
        assert np.array_equal(a.camera, b.camera)


def test_each_frame_carries_the_step_from_the_frame_before_it() -> None:
    images = panning(17)
    found = MotionDetector(input_width=W).detect(images)
    greys = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images]
    assert found[0].camera is not None and np.array_equal(found[0].camera, IDENTITY)
    for i in range(1, len(images)):
        step = camera_step(greys[i - 1], greys[i])
        assert step is not None and abs(step[0, 2] + 2) < 0.5  # the pan: 2 px to the left
        assert found[i].camera is not None and np.array_equal(found[i].camera, step)


def test_the_jobs_meter_counts_the_thread_that_measures_the_steps() -> None:
    images = panning(48)
    greys = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images]
    began = time.thread_time()
    for a, b in itertools.pairwise(greys):
        camera_step(a, b)
    steps_cpu = time.thread_time() - began
    detector = MotionDetector(input_width=W)
    with metered() as meter:
        before, own = meter.seconds(), time.thread_time()
        for i in range(0, len(images), 8):
            detector.detect(images[i : i + 8])
        counted, own = meter.seconds() - before, time.thread_time() - own
    # The caller's thread did not measure the steps: the meter holds them beside it.
    assert counted - own > 0.5 * steps_cpu, (counted, own, steps_cpu)

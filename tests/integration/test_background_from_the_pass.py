"""The motion backend's background comes from the detect pass's own decode: the clip is
read once, and the detections are those of a background sampled across the clip by a
decode of its own (as it was made before)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from bench.follow_truth import DATA, load_truth
from pipeline.detect.background_window import WindowConfig
from pipeline.detect.clip_detection import detect_frames, scaled_rgb, tracking
from pipeline.detect.contract import FrameDetections
from pipeline.detect.motion import MotionDetector
from pipeline.detect.shots import ShotCuts
from pipeline.media.frames import FrameReader
from pipeline.media.probe import VideoInfo, probe
from pipeline.media.sample import SampleTruth
from tests.factories import clip_with_a_cut, ffmpeg, make_clip

VTEST = load_truth(DATA / "vtest-pair.json").source.locate()  # None: not installed


def bytes_read() -> int:
    """What this process has read through read() calls so far (files included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def sampled_across_the_clip(path: Path, info: VideoInfo, width: int) -> list[np.ndarray]:
    """25 frames spread over the clip, from a decode of their own (the way the background
    was sampled before)."""
    step = max(1, info.frame_count // 25)
    scaler = VideoReformatter()
    with FrameReader(path, info) as reader:
        frames = [scaled_rgb(f, width, scaler) for f in reader.frames() if f.index % step == 0]
    return frames[:25]


def reference(path: Path, info: VideoInfo) -> dict[int, FrameDetections]:
    """Every frame's detections (in the clip's pixels) with the background primed by a
    second decode."""
    detector = MotionDetector()
    detector.prime(sampled_across_the_clip(path, info, detector.input_width))
    scaler = VideoReformatter()
    found = {}
    with FrameReader(path, info) as reader:
        for frame in reader.frames():
            (det,) = detector.detect([scaled_rgb(frame, detector.input_width, scaler)])
            found[frame.index] = det.scaled(info.width / detector.input_width)
    return found


def matched(a: FrameDetections, b: FrameDetections) -> tuple[int, int]:
    """Boxes of ``a`` with a box of ``b`` within 2 px, of all of both."""
    boxes = a.xyxy
    hits = sum(
        bool(len(b.xyxy)) and float(np.abs(b.xyxy - box).max(axis=1).min()) <= 2.0 for box in boxes
    )
    return hits, max(len(boxes), len(b.xyxy))


def truth_found(found: dict[int, FrameDetections], truth: SampleTruth, frames: range) -> float:
    """The share of the truth's players with a box centre within 10 px of theirs."""
    near = total = 0
    for f in frames:
        centres = (found[f].xyxy[:, :2] + found[f].xyxy[:, 2:]) / 2
        for x, y, w, h in truth.boxes[f]:
            total += 1
            if len(centres):
                near += np.hypot(*(centres - (x + w / 2, y + h / 2)).T).min() <= 10
    return near / total


def test_a_motion_pass_reads_its_clip_once(tmp_path: Path) -> None:
    """Detecting, tracking and cutting the shots of a 4 s clip reads its file about once
    (a second decode for the background read it twice)."""
    warm, _ = make_clip(tmp_path, "warm.mp4", width=320, height=180, duration_s=0.5, audio=False)
    detect_frames(warm, probe(warm), MotionDetector(), tracker=tracking())  # imports done
    clip, _ = make_clip(tmp_path, width=640, height=360, duration_s=4.0, audio=False)
    info, size = probe(clip), clip.stat().st_size
    before = bytes_read()
    found = detect_frames(
        clip, info, MotionDetector(), tracker=tracking(), shots=ShotCuts(float(info.fps))
    )
    read = bytes_read() - before
    assert sorted(found) == list(range(info.frame_count))
    assert 0.9 * size <= read < 1.5 * size, f"read {read} bytes of a {size}-byte clip"


@pytest.mark.parametrize("stride", [1, 2])
def test_detections_are_those_of_a_background_sampled_by_a_second_decode(
    tmp_path: Path, stride: int
) -> None:
    """On a generated game, the pass finds the boxes a background primed from its own
    decode would find, frame for frame (within 2 px on >= 98% of the boxes)."""
    clip, _ = make_clip(tmp_path, width=640, height=360, duration_s=4.0, audio=False)
    info = probe(clip)
    old = reference(clip, info) if stride == 1 else None
    found = detect_frames(clip, info, MotionDetector(), stride=stride)
    assert sorted(found) == sorted({*range(0, info.frame_count, stride), info.frame_count - 1})
    if old is None:  # every other frame: what is detected is the same game, found
        assert all(len(found[f].xyxy) >= 5 for f in found)
        return
    hits = total = 0
    for f in found:
        h, t = matched(found[f], old[f])
        hits, total = hits + h, total + t
    assert total > 5 * info.frame_count and hits >= 0.98 * total, (hits, total)


@pytest.mark.skipif(VTEST is None, reason="OpenCV's vtest.avi is not installed")
def test_on_real_footage_the_boxes_are_those_of_the_second_decode(tmp_path: Path) -> None:
    """vtest.avi's first 20 s (people walking past a still camera): the same boxes as
    with a background sampled by a decode of its own, within 2 px on >= 98% of them."""
    assert VTEST is not None
    clip = tmp_path / "vtest-20s.mp4"
    ffmpeg("-i", str(VTEST), "-t", "20", "-an", "-c:v", "libx264", "-preset", "veryfast", str(clip))
    info = probe(clip)
    old = reference(clip, info)
    found = detect_frames(clip, info, MotionDetector())
    hits = total = 0
    for f in range(info.frame_count):
        h, t = matched(found[f], old[f])
        hits, total = hits + h, total + t
    assert total > 200 and hits >= 0.98 * total, (hits, total)


def test_a_pass_longer_than_its_window_still_finds_every_player(tmp_path: Path) -> None:
    """A window of 1 s (a long clip's first frames): primed from them, the pass detects
    every frame in order and finds the generated players as a whole-clip background does."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0, audio=False)
    info = probe(clip)
    old = reference(clip, info)
    short = MotionDetector(prime_window=WindowConfig(max_bytes=30 * 320 * 180 * 3))
    found = detect_frames(clip, info, short, tracker=tracking())
    assert list(found) == list(range(info.frame_count))
    frames = range(info.frame_count)
    assert truth_found(found, truth, frames) >= truth_found(old, truth, frames) - 0.05


def test_a_request_about_one_second_decodes_on_for_its_background(tmp_path: Path) -> None:
    """Frames 30-60 of a 4 s clip: only they are detected, the background is taken from
    the 4 s from frame 30, and the players on them are found as well as with a
    background sampled across the clip."""
    clip, truth = make_clip(tmp_path, width=640, height=360, duration_s=4.0, audio=False)
    info = probe(clip)
    old = reference(clip, info)
    found = detect_frames(clip, info, MotionDetector(), start=30, end=60)
    assert sorted(found) == list(range(30, 60))
    frames = range(30, 60)
    assert truth_found(found, truth, frames) >= truth_found(old, truth, frames) - 0.05
    assert truth_found(found, truth, frames) >= 0.4


def test_a_cut_in_the_window_still_starts_the_new_shot_afresh(tmp_path: Path) -> None:
    """A clip that cuts at frame 45, all of it in the window: the game's players are
    found before the cut, the cut's frame starts the background again (nothing found)."""
    clip, truth = clip_with_a_cut(tmp_path)
    info = probe(clip)
    found = detect_frames(clip, info, MotionDetector())
    assert truth_found(found, truth, range(5, 44)) >= 0.5
    assert len(found[45].xyxy) == 0

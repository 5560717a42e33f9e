"""A detect pass decodes on a thread of its own, ahead of the detector: it sees every
frame in order with the copy it asked for, the decode's errors reach it, and a pass that
stops early stops the decode (real clips, made here with the project's sample writer)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import InvalidMedia
from pipeline.detect.clip_detection import DecodeAhead, scaled_rgb
from pipeline.media.frames import FrameReader, YuvFrame
from pipeline.media.probe import probe
from tests.factories import make_clip


def _clip(tmp_path: Path) -> Path:
    clip, _ = make_clip(tmp_path, duration_s=1.0, audio=False)
    return clip


def test_every_frame_comes_in_order_with_its_copy_up_to_the_last(tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    info = probe(clip)
    with FrameReader(clip, info) as reader:
        expected = [f.y.copy() for f in reader.frames()][:20]

    def every_third(frame: YuvFrame) -> np.ndarray | None:
        return scaled_rgb(frame, 160) if frame.index % 3 == 0 else None

    with (
        FrameReader(clip, info, writable=False) as reader,
        DecodeAhead(reader.frames(), (20, info.frame_count), every_third) as ahead,
    ):
        seen = [(frame.index, frame.y.copy(), copied) for frame, copied in ahead]
    assert [index for index, _, _ in seen] == list(range(20))
    assert all(np.array_equal(y, expected[i]) for i, y, _ in seen)
    assert [i for i, _, copied in seen if copied is not None] == list(range(0, 20, 3))
    assert all(c.shape == (90, 160, 3) for _, _, c in seen if c is not None)


def test_the_decodes_error_reaches_the_pass_after_the_frames_before_it(tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    info = probe(clip)

    def failing(frames: Iterator[YuvFrame]) -> Iterator[YuvFrame]:
        for frame in frames:
            if frame.index == 7:
                raise InvalidMedia("decoding failed at frame 7")
            yield frame

    seen = []
    with (
        FrameReader(clip, info, writable=False) as reader,
        pytest.raises(InvalidMedia, match="frame 7"),
        DecodeAhead(failing(reader.frames()), (30, 30), lambda f: None) as ahead,
    ):
        seen.extend(frame.index for frame, _ in ahead)
    assert seen == list(range(7))


def test_a_pass_that_stops_early_stops_the_decode(tmp_path: Path) -> None:
    clip = _clip(tmp_path)
    info = probe(clip)
    decoded = []

    def counted(frames: Iterator[YuvFrame]) -> Iterator[YuvFrame]:
        for frame in frames:
            decoded.append(frame.index)
            yield frame

    before = threading.active_count()
    with FrameReader(clip, info, writable=False) as reader:
        with (
            pytest.raises(RuntimeError, match="the detector failed"),
            DecodeAhead(counted(reader.frames()), (30, 30), lambda f: None) as ahead,
        ):
            for frame, _ in ahead:
                if frame.index == 2:
                    raise RuntimeError("the detector failed")
        assert threading.active_count() <= before  # its thread is gone, the reader still open
    assert len(decoded) <= 3 + DecodeAhead.DEPTH + 2  # not decoded on to the end

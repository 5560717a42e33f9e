"""A reader whose frames are only read hands out the decoder's own pictures, uncopied:
they are the pictures a writable reader gives, and stay so while held (a detect pass
holds its frames back for the background's window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.media.frames import FrameReader
from pipeline.media.probe import probe
from tests.factories import make_clip


def test_read_only_frames_are_the_writable_readers_and_stay_so_while_held(
    tmp_path: Path,
) -> None:
    clip, _ = make_clip(tmp_path, duration_s=1.5, audio=False)
    info = probe(clip)
    with FrameReader(clip, info) as reader:
        copies = [(f.index, f.y.copy(), f.u.copy(), f.v.copy()) for f in reader.frames()]
    with FrameReader(clip, info, writable=False) as reader:
        held = list(reader.frames())  # views over the decoder's pictures, none copied
        assert [f.index for f in held] == [index for index, *_ in copies]
        for frame, (_, y, u, v) in zip(held, copies, strict=True):
            assert np.array_equal(frame.y, y)
            assert np.array_equal(frame.u, u) and np.array_equal(frame.v, v)
    assert len({float(y.mean()) for _, y, _, _ in copies}) > 1  # the picture moves

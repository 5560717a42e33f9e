"""Frames out of an ffmpeg filter graph, raw, through a pipe: decode and filter in
ffmpeg, draw and encode in this process, with no encode in between.

ffmpeg writes the graph's ``[v]`` as raw yuv420p to its stdout; every other
output (the graph's audio, encoded to a file) is written by the same process
as it goes. A reader that stops early kills ffmpeg; one that ffmpeg keeps
waiting on for ``stall_s`` gets a retryable EncoderCrashed, as
:func:`~pipeline.media.ffmpeg_run.run_ffmpeg` does.

Example::

    with FramePipe([*ffmpeg_input(src), "-filter_complex", graph], "[v]", 608, 1080) as pipe:
        for frame in pipe.frames():
            writer.write(frame)
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO

import numpy as np

from pipeline.core.usage import MeteredPopen
from pipeline.media.codec import PIX_FMT
from pipeline.media.ffmpeg_run import STALL_S, Watchdog, check_exit, ffmpeg_command
from pipeline.media.frames import YuvFrame, split_i420
from pipeline.media.probe import OWN_GROUP


class FramePipe:
    """An ffmpeg process whose video output ``label`` comes back as frames.

    ``args`` are the inputs and the graph; ``extra_outputs`` are further output
    arguments (``-map [a] ... audio.m4a``) written by ffmpeg itself.
    """

    def __init__(
        self,
        args: Sequence[str],
        label: str,
        width: int,
        height: int,
        *,
        extra_outputs: Sequence[str] = (),
        stall_s: float = STALL_S,
    ) -> None:
        self.width, self.height = width, height
        self.stall_s = stall_s
        # The pipe's frames are exactly ``width`` x ``height``: the buffer below is sized
        # from them, never from the stream, and a frame of another size would be misread.
        raw = ["-f", "rawvideo", "-pix_fmt", PIX_FMT, "-s", f"{width}x{height}", "pipe:1"]
        cmd = ffmpeg_command([*args, "-map", label, *raw, *extra_outputs])
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._proc = MeteredPopen(
            cmd, stdout=subprocess.PIPE, stderr=self._stderr, process_group=OWN_GROUP
        )
        self._watchdog = Watchdog(self._proc, stall_s)
        self._ended = False

    def frames(self) -> Iterator[YuvFrame]:
        """The frames in order, numbered from 0; ffmpeg's exit is checked at the end."""
        stdout = self._proc.stdout
        assert isinstance(stdout, io.BufferedReader)
        w, h = self.width, self.height
        size = w * h * 3 // 2
        buffer = np.empty(size, dtype=np.uint8)
        view = memoryview(buffer.data)
        index = 0
        while True:
            filled = 0
            while filled < size:
                got = stdout.readinto(view[filled:])
                if not got:
                    break
                filled += got
            self._watchdog.beat()
            if filled < size:
                break
            y, u, v = split_i420(buffer, w, h)
            yield YuvFrame.from_planes(index, y, u, v)
            index += 1
        self._finish()

    def _finish(self) -> None:
        """Wait for ffmpeg and raise for how it ended."""
        if self._ended:
            return
        self._ended = True
        returncode = self._proc.wait(timeout=30)
        self._watchdog.stop()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace").strip()
        check_exit(returncode, stderr, stalled=self._watchdog.fired, stall_s=self.stall_s)

    def close(self) -> None:
        """Stop ffmpeg if it is still running (the reader stopped early)."""
        if not self._ended:
            self._ended = True
            self._proc.kill()
            self._proc.wait(timeout=30)
            self._watchdog.stop()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> FramePipe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

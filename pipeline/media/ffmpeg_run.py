"""Run an ffmpeg command, reporting progress from ffmpeg's own frame counter.

ffmpeg writes ``-progress`` key=value lines to stdout; stderr goes to a file so
neither pipe can fill up and stall the encoder. After ffmpeg exits its stderr
is read and reported (the tail) in the error.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Callable, Sequence

from pipeline.errors import EncoderCrashed, InvalidMedia
from pipeline.media.probe import ffmpeg_binary

ProgressCallback = Callable[[int], None]

_DECODE_ERRORS = ("Invalid data found", "moov atom not found", "could not find codec")


def run_ffmpeg(args: Sequence[str], *, on_frames: ProgressCallback | None = None) -> None:
    """Run ``ffmpeg <args>``; ``on_frames(n)`` is called as frames are written.

    Raises InvalidMedia when ffmpeg cannot decode the input, EncoderCrashed for
    any other failure (retryable: the input probed fine).
    """
    cmd = [
        ffmpeg_binary("ffmpeg"),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-nostats",
        *args,
    ]
    with tempfile.TemporaryFile() as stderr_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr_file)
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("frame=") and on_frames is not None:
                    with contextlib.suppress(ValueError):
                        on_frames(int(line.partition("=")[2]))
        finally:
            proc.stdout.close()
            returncode = proc.wait()
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace").strip()
    if returncode != 0:
        tail = "\n".join(stderr.splitlines()[-8:]) or f"exit code {returncode}"
        if any(marker in stderr for marker in _DECODE_ERRORS):
            raise InvalidMedia(f"ffmpeg could not decode the clip: {tail}")
        raise EncoderCrashed(f"ffmpeg failed (exit {returncode}): {tail}")

"""Run an ffmpeg command, reporting progress from ffmpeg's own frame counter.

ffmpeg writes ``-progress`` key=value lines to stdout; stderr goes to a file so
neither pipe can fill up and stall the encoder. After ffmpeg exits its stderr
is read and reported (the tail) in the error.

ffmpeg reports progress every half second while it works; one that says
nothing for ``stall_s`` is killed (a retryable EncoderCrashed), and so is one
whose progress callback raises (the worker is stopping at a frame boundary).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

from pipeline.core.errors import EncoderCrashed, InvalidMedia
from pipeline.core.usage import MeteredPopen
from pipeline.media.frame_size import ffmpeg_size_change
from pipeline.media.probe import OWN_GROUP, check_not_signalled, ffmpeg_binary

ProgressCallback = Callable[[int], None]

_DECODE_ERRORS = ("Invalid data found", "moov atom not found", "could not find codec")
STALL_S = 120.0


class Watchdog:
    """Kills ``proc`` when ``beat()`` has not been called for ``stall_s``."""

    def __init__(self, proc: subprocess.Popen[bytes], stall_s: float) -> None:
        self.proc = proc
        self.stall_s = stall_s
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="ffmpeg-watchdog")
        self._thread.start()

    def beat(self) -> None:
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.stall_s / 4)):
            if time.monotonic() - self._last > self.stall_s:
                self.fired = True
                self.proc.kill()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_ffmpeg(
    args: Sequence[str],
    *,
    on_frames: ProgressCallback | None = None,
    stall_s: float = STALL_S,
) -> None:
    """Run ``ffmpeg <args>``; ``on_frames(n)`` is called as frames are written.

    Raises InvalidMedia when ffmpeg cannot decode the input, EncoderCrashed for
    any other failure or a stall longer than ``stall_s`` (retryable: the input
    probed fine). An exception from ``on_frames`` kills ffmpeg and propagates.
    """
    cmd = ffmpeg_command(["-progress", "pipe:1", "-nostats", *args])
    with tempfile.TemporaryFile() as stderr_file:
        proc = MeteredPopen(
            cmd, stdout=subprocess.PIPE, stderr=stderr_file, process_group=OWN_GROUP
        )
        assert proc.stdout is not None
        watchdog = Watchdog(proc, stall_s)
        finished = False
        try:
            for raw in proc.stdout:
                watchdog.beat()
                line = raw.decode(errors="replace").strip()
                if line.startswith("frame=") and on_frames is not None:
                    try:
                        frames = int(line.partition("=")[2])
                    except ValueError:
                        continue
                    on_frames(frames)
            finished = True
        finally:
            if not finished:
                proc.kill()
            proc.stdout.close()
            returncode = proc.wait(timeout=30)
            watchdog.stop()
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace").strip()
    check_exit(returncode, stderr, stalled=watchdog.fired, stall_s=stall_s)


def ffmpeg_command(args: Sequence[str]) -> list[str]:
    """``ffmpeg`` with reelpipe's quiet, non-interactive flags, then ``args``."""
    return [ffmpeg_binary("ffmpeg"), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]


def check_exit(returncode: int, stderr: str, *, stalled: bool, stall_s: float) -> None:
    """The error for how ffmpeg ended: a stall or a crash is retryable (EncoderCrashed),
    and so is a kill by a signal from outside (ToolStopped); an undecodable input is not
    (InvalidMedia), nor one whose pictures change size mid-stream."""
    if stalled:
        raise EncoderCrashed(f"ffmpeg made no progress for {stall_s:g} s and was stopped")
    check_not_signalled("ffmpeg", returncode)
    # A size change is refused by the decoder's cap or the graph's guard: on the first,
    # ffmpeg goes on without those pictures and may even exit 0.
    changed = ffmpeg_size_change(stderr)
    if changed is not None:
        raise changed
    if returncode != 0:
        tail = "\n".join(stderr.splitlines()[-8:]) or f"exit code {returncode}"
        if any(marker in stderr for marker in _DECODE_ERRORS):
            raise InvalidMedia(f"ffmpeg could not decode the clip: {tail}")
        raise EncoderCrashed(f"ffmpeg failed (exit {returncode}): {tail}")

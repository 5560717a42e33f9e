"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

A supervisor's stop, ``timeout``, or a closed terminal sends SIGTERM or SIGHUP,
whose default action ends Python at once: no ``finally`` runs, so the ffmpeg of
the stage under way (in a process group of its own, out of reach of the signal)
and the embedded store's child process would be left behind. Raised as
:class:`Terminated` instead, a subclass of ``KeyboardInterrupt``, the signal
unwinds every command exactly as a Ctrl-C does (ffmpeg and ffprobe killed, the
store stopped), and ``main`` ends with one line and ``128 + signal``: 143 for
SIGTERM, 129 for SIGHUP.

Commands that stop cleanly on a signal (``serve``, ``scan``) install their own
handlers over these (:func:`pipeline.cli.common.stop_on_signals`).
"""

from __future__ import annotations

import signal
from types import FrameType

TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; unwinds like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for a death by this signal (143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + self.signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    # One signal is enough: a second one (a supervisor that repeats itself) must not
    # cut the unwinding of the first short, killing no ffmpeg.
    for sig in TERMINATING:
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


def raise_on_termination() -> None:
    """From now on SIGTERM and SIGHUP raise :class:`Terminated` in the main thread."""
    for sig in TERMINATING:
        signal.signal(sig, _raise_terminated)

"""What this process has used: CPU seconds (its own and its finished children's) and
how long ago it started, for the cost ledger.

Example::

    began = cpu_seconds()
    ...                                 # a stage, ffmpeg included
    used = cpu_seconds() - began        # core-seconds actually spent
"""

from __future__ import annotations

import os
import resource


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``; 0.0 where it cannot be read).

    In a container whose first call this is, that is the start a platform bills
    before the call's own work: interpreter, imports, model loading."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime, in ticks
    return max(0.0, up - started)


class FirstCall:
    """The start-up to bill with a process's first call, and nothing with the others."""

    def __init__(self) -> None:
        self._billed = False

    def startup_s(self) -> float:
        """The process's age the first time, 0.0 after."""
        if self._billed:
            return 0.0
        self._billed = True
        return process_age_s()

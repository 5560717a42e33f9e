"""What a job has used, for the cost ledger: the CPU seconds of its own threads and of
its own child processes, and how long ago this process started.

One process runs several jobs at once (``serve --workers 2``), beside the embedded
store, so a job is never charged the process's whole CPU. A :class:`JobMeter` counts

- the thread the job runs on, from when the meter starts;
- the threads a codec starts while the job opens it (x264's frame threads, a
  decoder's): :func:`adopting_threads` around the open, read per thread
  (Linux's per-thread CPU clocks) until they end;
- its child processes (ffmpeg, ffprobe) started through :class:`MeteredPopen`,
  whose rusage comes back when they are waited for (``wait4``).

Example::

    with metered() as meter:            # the job's meter, or a new one
        began = meter.seconds()
        ...                             # a stage, ffmpeg and x264's threads included
        used = meter.seconds() - began  # core-seconds this job actually spent
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

# Linux's per-thread CPU clocks: a thread's clock id is built from its tid (the kernel's
# CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK), readable for any thread of this process.
_PER_THREAD = sys.platform.startswith("linux") and os.path.isdir("/proc/self/task")
_TASKS = "/proc/self/task"
_current: ContextVar[JobMeter | None] = ContextVar("reelpipe_job_meter", default=None)
# Codec opens are one at a time, so the threads that appear during one are its own.
_OPENING = threading.Lock()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def thread_cpu_s(tid: int) -> float | None:
    """CPU seconds of this process's thread ``tid`` (None: it has ended, or no clock)."""
    try:
        return time.clock_gettime((~tid << 3) | 6)
    except OSError:
        return None


def _live_threads() -> set[int]:
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return set()


class JobMeter:
    """The CPU one job has spent: its threads' and its children's (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: dict[int, float] = {}  # tid -> its CPU seconds when adopted
        self._seen: dict[int, float] = {}  # tid -> its CPU seconds when last read
        self._children = 0.0
        self._began = 0.0 if _PER_THREAD else cpu_seconds()
        self.adopt(threading.get_native_id(), new=False)

    def adopt(self, tid: int, *, new: bool = True) -> None:
        """Count thread ``tid`` from now on (``new``: all its CPU, it began for this job)."""
        if not _PER_THREAD:
            return
        now = thread_cpu_s(tid)
        if now is None:
            return
        with self._lock:
            if tid not in self._base:
                self._base[tid] = 0.0 if new else now
                self._seen[tid] = now

    def add_child(self, usage: Any) -> None:
        """A waited child process's rusage."""
        with self._lock:
            self._children += usage.ru_utime + usage.ru_stime

    def sample(self) -> None:
        """Read the counted threads' clocks now: what a thread spent before it ends is
        kept (call it before closing a codec, whose threads end with it)."""
        with self._lock:
            for tid in self._seen:
                now = thread_cpu_s(tid)
                if now is not None and now > self._seen[tid]:
                    self._seen[tid] = now

    def seconds(self) -> float:
        """Core-seconds spent so far (the whole process's, where threads have no clocks)."""
        if not _PER_THREAD:
            return cpu_seconds() - self._began
        self.sample()
        with self._lock:
            threads = sum(self._seen[t] - self._base[t] for t in self._seen)
            return threads + self._children


def current_meter() -> JobMeter | None:
    """The meter of the job running in this context, if any."""
    return _current.get()


@contextlib.contextmanager
def metered() -> Iterator[JobMeter]:
    """The job's meter for the block: the one already running here, else a new one."""
    meter = _current.get()
    if meter is not None:
        yield meter
        return
    meter = JobMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


@contextlib.contextmanager
def adopting_threads() -> Iterator[None]:
    """The threads started inside the block (a codec opening) count for this job."""
    meter = _current.get()
    if meter is None or not _PER_THREAD:
        yield
        return
    with _OPENING:
        before = _live_threads()
        try:
            yield
        finally:
            for tid in _live_threads() - before:
                meter.adopt(tid)


def sample_threads() -> None:
    """Read this job's thread clocks now (before a codec's threads end)."""
    meter = _current.get()
    if meter is not None:
        meter.sample()


class MeteredPopen(subprocess.Popen[bytes]):
    """A child process whose CPU (its rusage, when it is waited for) counts for the job
    that started it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._meter = _current.get()
        super().__init__(*args, **kwargs)

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        # Popen's own wait, with wait4 in place of waitpid: the same result plus rusage.
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0  # as Popen does: reaped elsewhere
        if pid == self.pid and self._meter is not None:
            self._meter.add_child(usage)
        return pid, status


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

"""Whether a command's process may be run by a warm worker: the same user, and the same
process attributes the worker's fork would have instead of its own.

A fork runs with the worker's namespaces, control group, niceness, resource limits, CPU
affinity and groups, not the command's. Where any of them differs (a command under
``nice``, ``ulimit``, ``taskset`` or ``systemd-run -p MemoryMax``, or in a container or
sandbox that shares the socket's folder), the worker refuses and the command runs
itself, so that a warm job is never one with other limits, or outside a sandbox its
command was in. Read from ``/proc`` (Linux), which a process of the same user may read.
"""

from __future__ import annotations

import os
from pathlib import Path

NAMESPACES = ("mnt", "pid", "net", "user", "ipc", "uts", "cgroup")


def differs(pid: int) -> str | None:
    """What of process ``pid``'s attributes is not this process's (None: nothing)."""
    try:
        for name in NAMESPACES:
            if _namespace(pid, name) != _namespace(os.getpid(), name):
                return f"another {name} namespace"
        for part in ("cgroup", "limits"):
            if _proc(pid, part) != _proc(os.getpid(), part):
                return "another control group" if part == "cgroup" else "other limits"
        if os.getpriority(os.PRIO_PROCESS, pid) != os.getpriority(os.PRIO_PROCESS, 0):
            return "another niceness"
        if os.sched_getaffinity(pid) != os.sched_getaffinity(0):
            return "another CPU affinity"
        if _groups(pid) != _groups(os.getpid()):
            return "other groups"
    except OSError:
        return "its attributes could not be read"
    return None


def _namespace(pid: int, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def _proc(pid: int, part: str) -> str:
    return Path(f"/proc/{pid}/{part}").read_text()


def _groups(pid: int) -> str:
    for line in _proc(pid, "status").splitlines():
        if line.startswith("Groups:"):
            return line
    return ""

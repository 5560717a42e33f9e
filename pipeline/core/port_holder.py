"""Which process listens on a TCP port, when this machine says (Linux ``/proc``).

Used only to word an error: a taken port names its holder's pid when the kernel
shows it to us (our own processes, or any as root), and says whether the holder
is a ``reelpipe serve``. Anywhere else (macOS, another user's process) the
answer is None and the message goes without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # the TCP state column of /proc/net/tcp for a listening socket
MAX_PIDS = 100_000  # a bound on the walk of /proc, whatever the machine runs


@dataclass(frozen=True)
class PortHolder:
    """The process listening on a port: its pid and whether it is a ``reelpipe serve``."""

    pid: int
    is_serve: bool


def port_holder(port: int, proc: Path = PROC) -> PortHolder | None:
    """The process listening on ``port`` on any address, or None when unknown."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    try:
        with os.scandir(proc) as entries:
            pids = [entry for entry in entries if entry.name.isdigit()][:MAX_PIDS]
    except OSError:
        return None
    for entry in pids:
        try:
            with os.scandir(Path(entry.path) / "fd") as fds:
                holds = any(_link(fd.path) in targets for fd in fds)
        except OSError:  # gone, or not ours to look at
            continue
        if holds:
            return PortHolder(int(entry.name), _is_serve(Path(entry.path)))
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            local_port = fields[1].rpartition(":")[2]
            if int(local_port, 16) == port and fields[9] != "0":
                inodes.add(fields[9])
    return inodes


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _is_serve(process: Path) -> bool:
    try:
        argv = (process / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [os.path.basename(arg.decode(errors="replace")) for arg in argv]
    return "serve" in words and any("reelpipe" in w or w == "pipeline.cli.main" for w in words)

"""``reelpipe process`` timed through a warm worker, its CPU included.

A warm command's own process does next to nothing: the job runs in the worker's fork,
with the store the worker started ahead. Its CPU is therefore read from the worker
(its own and its reaped children's: the forks, their ffmpeg, and each store once it has
served its command), between two moments when the worker is settled: no job running,
the store it handed out reaped, the next one started and ready. So each timed command
is charged its fork, its store's whole life (start included) and the worker's loop,
and nothing of the worker's runs while the bare side is timed.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.measure import Timing, cpu_seconds
from pipeline.cli.warm_client import ask_warm_worker

SETTLE_TIMEOUT_S = 120.0


def warm_environment(work: Path, base: dict[str, str]) -> dict[str, str]:
    """``base`` with warm workers on, in a runtime folder of ``work``'s own."""
    runtime = work / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        **base,
        "REELPIPE_WARM": "on",
        "XDG_RUNTIME_DIR": str(runtime),
        "REELPIPE_WARM_IDLE_S": "1800",
    }


def settled(env: dict[str, str]) -> dict[str, Any]:
    """The worker's state once it is settled (see the module's docstring)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        state = ask_warm_worker(env)
        if state and not state["jobs"] and state["store_ready"] and not state["stores_to_reap"]:
            return state
        time.sleep(0.05)
    raise SystemExit("the warm worker did not settle")


def worker_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and of its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def start_worker(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` (a cold ``process``, which starts the worker); the worker's pid."""
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=900)
    return int(settled(env)["pid"])


def stop_worker(env: dict[str, str]) -> None:
    """Stop the bench's worker (it would otherwise idle for its whole idle time)."""
    ask_warm_worker(env, stop=True)


def timed_warm(cmd: list[str], env: dict[str, str], pid: int) -> Timing:
    """One warm command: its wall, and its CPU with the worker's share."""
    before = worker_cpu(pid)
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=900)
    wall, own = time.perf_counter() - t0, cpu_seconds() - cpu0
    if int(settled(env)["pid"]) != pid:
        raise SystemExit("the warm worker was replaced during the run")
    return Timing(wall, own + worker_cpu(pid) - before)

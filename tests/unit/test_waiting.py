"""Waits of the main thread hear SIGTERM even when the kernel hands it to another thread.

Each case is a real process: a "job" runs on a pool thread until ``stop`` is set, the
main thread installs the SIGTERM handler, blocks SIGTERM for itself (so the kernel must
deliver it to the pool thread, as it may after SIGCONT), and waits for the job.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

CHILD = """
import signal, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pipeline.core.waiting import results_of, wait_for_event

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())

def job():
    deadline = time.monotonic() + 6
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)  # a frame
    return "stopped" if stop.is_set() else "ran to the end"

how = sys.argv[1]
with ThreadPoolExecutor(1) as pool:
    future = pool.submit(job)  # the pool thread starts now, with SIGTERM unblocked
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    print("ready", flush=True)
    if how == "event":
        print("set" if wait_for_event(stop, 6) else "timed out", flush=True)
    else:
        print(results_of([future])[0] if how == "sliced" else future.result(), flush=True)
"""


def run_and_terminate(how: str) -> tuple[str, float]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, how], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=30)
        return out.strip(), time.monotonic() - sent
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("how", ["sliced", "event"])
def test_a_sliced_wait_runs_the_handler_within_a_slice(how: str) -> None:
    out, took = run_and_terminate(how)
    assert out in {"stopped", "set"}
    assert took < 3.0  # a slice is 0.2 s; the job would run 6 s


def test_a_plain_wait_hears_it_only_when_the_job_ends() -> None:
    """Why the slices exist: ``future.result()`` leaves the handler waiting on the job."""
    out, took = run_and_terminate("plain")
    assert out == "ran to the end" and took > 4.0

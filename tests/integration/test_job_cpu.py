"""Each job is charged its own CPU: its threads (x264's and the decoder's included) and
its ffmpeg children, never the other job running beside it in the same process."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.core.usage import MeteredPopen, adopting_threads, metered
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState, StatusManifest
from pipeline.runners.local import LocalRunner
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip

BOXES = {"highlight": {"boxes": [[0, 200, 100, 60, 120], [89, 260, 120, 90, 160]]}}
FRAMING = {"trim": {"start_s": 0.0, "end_s": 2.5}, "aspect": "9:16"}
JOBS = {
    "overlay": {"overlay": BOXES},
    "fused": {"framing": FRAMING, "overlay": BOXES},
}


def _submit(bucket: Bucket, clip: Path, stages: dict[str, Any], tag: str) -> ClaimedJob:
    relative = upload_clip(bucket, "u", clip)
    doc = {"schema_version": 1, "input_key": relative, "stages": stages}
    job = claim(bucket, submit_manifest(bucket, "u", doc, request_id=tag).inbox_key)
    assert isinstance(job, ClaimedJob)
    return job


def _timed_run(worker: Worker, job: ClaimedJob) -> tuple[StatusManifest, float, float]:
    began = time.monotonic()
    status = worker.run(job)
    assert isinstance(status, StatusManifest) and status.state is JobState.SUCCEEDED
    return status, began, time.monotonic()


@pytest.mark.parametrize("name", sorted(JOBS))
def test_a_jobs_cpu_is_the_same_alone_and_beside_another(
    bucket: Bucket, settings: Settings, tmp_path: Path, name: str
) -> None:
    """Two jobs at once on one process (``serve --workers 2``): each is charged what the
    same job is charged alone, within a quarter of the two lone runs (the whole process's
    CPU would be twice that). A quarter, not the 15% the issue sets: on a 2-core machine
    running the suite a lone run varies by a fifth; ``bench.job_cpu`` measures the 15%."""
    clip, _ = make_clip(tmp_path, width=960, height=540, duration_s=3.0)
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    _timed_run(worker, _submit(bucket, clip, JOBS[name], f"{name}-warm"))  # first-use costs
    lone = [
        _timed_run(worker, _submit(bucket, clip, JOBS[name], f"{name}-alone{i}"))[0]
        for i in range(2)
    ]
    low, high = min(lone, key=_cpu), max(lone, key=_cpu)
    pair = [_submit(bucket, clip, JOBS[name], f"{name}-{i}") for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda job: _timed_run(worker, job), pair))
    (_, a0, a1), (_, b0, b1) = runs
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * min(a1 - a0, b1 - b0), "the two jobs did not run at once"
    assert low.cpu_seconds > 0.5
    for status, _, _ in runs:
        charged = status.cpu_seconds
        assert 0.75 * low.cpu_seconds <= charged <= 1.25 * high.cpu_seconds, (
            name,
            [s.cpu_seconds for s in lone],
            [r[0].cpu_seconds for r in runs],
        )
        # A fused pass's stages share its CPU by their seconds of it: their sum is the pass's.
        stages = [_stages_cpu(s) for s in lone]
        assert 0.75 * min(stages) <= _stages_cpu(status) <= 1.25 * max(stages)


def _cpu(status: StatusManifest) -> float:
    return status.cpu_seconds


def _stages_cpu(status: StatusManifest) -> float:
    return sum(record.cpu_seconds for record in status.stages.values())


def test_a_meter_counts_its_codec_threads_and_children_not_a_busy_neighbour() -> None:
    """Beside a thread that keeps a core busy: a job that only sleeps is charged nothing;
    one that starts a thread while opening a codec, and waits for an ffmpeg child, is
    charged both."""
    stop, worked, release = threading.Event(), threading.Event(), threading.Event()
    spent: list[float] = []

    def spin() -> None:
        while not stop.is_set():
            sum(range(10_000))

    def work() -> None:  # a fixed amount of work, then alive until released
        for _ in range(300):
            sum(range(10_000))
        spent.append(time.thread_time())
        worked.set()
        release.wait(timeout=60)

    neighbour = threading.Thread(target=spin)
    neighbour.start()
    helper = threading.Thread(target=work)
    try:
        with metered() as idle:
            time.sleep(0.5)
            assert idle.seconds() < 0.1  # the process spent ~0.5 s meanwhile
        with metered() as meter:
            with adopting_threads():
                helper.start()
            assert worked.wait(timeout=60)
            threaded = meter.seconds()  # read while the thread lives, as before a codec closes
            release.set()
            helper.join(timeout=10)
            encode = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i"]
            encode += ["testsrc2=size=640x360:rate=30:duration=2", "-f", "null", "-"]
            with MeteredPopen(encode) as child:
                assert child.wait(timeout=60) == 0
            used = meter.seconds()
    finally:
        stop.set()
        release.set()
        neighbour.join(timeout=10)
    assert threaded >= 0.9 * spent[0]  # all the helper's work (the waiting thread adds ~0)
    assert used - threaded > 0.02  # ffmpeg's CPU, from its rusage

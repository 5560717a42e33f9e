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
from pipeline.core.usage import MeteredPopen, adopting_threads, cpu_seconds, metered
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
    """Two jobs at once on one process (``serve --workers 2``): each is charged its own
    share of what the process spent meanwhile, about a third of it (the rest is the other
    job and the in-process store), never the whole (which the process's rusage would give).

    Both are measured in the same seconds, so the box's speed drifting between runs (a
    lone run here varies by a third from one minute to the next) cannot fail it; the
    comparison with lone runs is kept loose for that reason, and ``bench.job_cpu``
    measures the issue's 15% round by round."""
    clip, _ = make_clip(tmp_path, width=960, height=540, duration_s=3.0)
    worker = Worker(bucket, settings, LocalRunner(bucket, settings))
    _timed_run(worker, _submit(bucket, clip, JOBS[name], f"{name}-warm"))  # first-use costs
    lone = [
        _timed_run(worker, _submit(bucket, clip, JOBS[name], f"{name}-alone{i}"))[0]
        for i in range(2)
    ]
    pair = [_submit(bucket, clip, JOBS[name], f"{name}-{i}") for i in range(2)]
    before = cpu_seconds()
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda job: _timed_run(worker, job), pair))
    process = cpu_seconds() - before
    (_, a0, a1), (_, b0, b1) = runs
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.5 * min(a1 - a0, b1 - b0), "the two jobs did not run at once"
    alone = [status.cpu_seconds for status in lone]
    charged = [status.cpu_seconds for status, _, _ in runs]
    figures = (name, alone, charged, round(process, 3))
    assert min(alone) > 0.5, figures
    # Each job's threads and children, not the process: each a share of what the process
    # spent (all of it, were a job charged the process), together most of it.
    assert all(0.2 * process <= c <= 0.55 * process for c in charged), figures
    assert 0.55 * process <= sum(charged) <= process, figures
    # The same work as alone (loosely: the box's speed moves between these runs).
    assert all(0.6 * min(alone) <= c <= 1.6 * max(alone) for c in charged), figures
    lone_stages = [_stages_cpu(status) for status in lone]
    for status, _, _ in runs:
        # A fused pass's stages share its CPU by their seconds of it: most of the job's
        # (the orchestrator's lifecycle is the rest), the same work as alone (loosely).
        stages = _stages_cpu(status)
        assert 0.5 * status.cpu_seconds <= stages, figures
        assert 0.6 * min(lone_stages) <= stages <= 1.6 * max(lone_stages), figures
        for record in status.stages.values():
            assert record.cpu_seconds <= 0.55 * process, figures


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

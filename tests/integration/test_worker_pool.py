"""``serve``'s worker pool: a dispatched job runs on one of its threads and the caller gets
that run's future; a job already queued or running there is not queued again."""

from __future__ import annotations

import threading
from pathlib import Path

from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.settings import Settings
from pipeline.jobs.claim import ClaimedJob, claim
from pipeline.jobs.worker import Worker
from pipeline.manifests.status import JobState
from pipeline.runners.local import LocalRunner
from pipeline.service.serve import WorkerPool
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip


def test_a_job_dispatched_twice_is_queued_once_and_each_run_ends_in_its_future(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    clip, _ = make_clip(tmp_path, width=320, height=180, duration_s=1.0)
    relative = upload_clip(bucket, "u", clip)
    jobs = []
    for tag in ("first", "second"):
        doc = {"schema_version": 1, "input_key": relative, "stages": {"framing": {}}}
        job = claim(bucket, submit_manifest(bucket, "u", doc, request_id=tag).inbox_key)
        assert isinstance(job, ClaimedJob)
        jobs.append(job)
    first, second = jobs
    pool = WorkerPool(Worker(bucket, settings, LocalRunner(bucket, settings)), 1)
    try:
        runs = [pool.dispatch(first), pool.dispatch(first), pool.dispatch(second)]
        assert runs[0] is not None and runs[2] is not None
        assert runs[1] is None  # queued already: one thread, busy with it or about to be
        done = [runs[0].result(timeout=120), runs[2].result(timeout=120)]
        # The pool's own callback (added first) has run once this one has: the job has
        # left the pool, and a later dispatch of it is queued again (that claim is spent:
        # its copy of the status still shows the lease its run took, so nothing runs).
        left = threading.Event()
        runs[0].add_done_callback(lambda _: left.set())
        assert left.wait(10)
        again = pool.dispatch(first)
        assert again is not None
        again.result(timeout=120)
    finally:
        pool.shutdown()
    assert [s.job_id if s else None for s in done] == [first.job_id, second.job_id]
    assert all(s is not None and s.state is JobState.SUCCEEDED for s in done), done

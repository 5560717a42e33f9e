"""Shot boundaries found by the detect stage on a clip with a hard cut, and what they reset."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.settings import Settings
from pipeline.manifests.detections import TRACK, Detections
from pipeline.manifests.job import DetectParams, StageName
from pipeline.runners.local import LocalRunner
from pipeline.stages.base import Call, StageRequest
from pipeline.storage.bucket import Bucket
from tests.factories import clip_with_a_cut
from tests.stage_runs import JOB_ID, upload


def test_the_detect_stage_records_the_cut_and_no_track_crosses_it(
    bucket: Bucket, settings: Settings, tmp_path: Path
) -> None:
    request = StageRequest(
        user_id="u",
        job_id=JOB_ID,
        stage=StageName.DETECT,
        video_key=upload(bucket, clip_with_a_cut(tmp_path)[0]),
        params=DetectParams.model_validate({"backend": "motion", "stride": 1}),
        final=False,
    )
    [result] = LocalRunner(bucket, settings).run(Call.of(request), lambda f: None)
    doc = Detections.model_validate(bucket.get_json(result.outputs["detections"]).data)
    assert doc.shots == [45]
    before = {int(r[TRACK]) for f in range(45) for r in doc.rows(f) if r[TRACK] >= 0}
    after = {int(r[TRACK]) for f in range(45, 90) for r in doc.rows(f) if r[TRACK] >= 0}
    assert before and after and not before & after

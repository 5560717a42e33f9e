"""A clip over the frame-rate or work limit is refused before any job starts: by
``reelpipe plan``, by the orchestrator's planning and by the stage that fetches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli.main import main
from pipeline.client.submit import submit_manifest, upload_clip
from pipeline.core.errors import ErrorKind, LimitExceeded
from pipeline.core.settings import Limits, Settings
from pipeline.manifests.job import StageName
from pipeline.manifests.status import JobState
from pipeline.storage.bucket import Bucket
from tests.factories import make_clip
from tests.stage_runs import run_claimed, run_stage, upload

# 160x120 at 240 fps for 1 s: 4.6 million decoded pixels.
FAST = {"width": 160, "height": 120, "duration_s": 1.0, "fps": 240, "audio": False}


@pytest.fixture
def fast_clip(tmp_path: Path) -> Path:
    clip, _ = make_clip(tmp_path, "fast.mp4", **FAST)  # type: ignore[arg-type]
    return clip


@pytest.mark.parametrize(
    ("limits", "figure", "variable"),
    [
        (Limits(max_fps=100), "runs at 240 fps; the limit is 100 fps", "REELPIPE_MAX_FPS"),
        (
            Limits(max_decoded_pixels=1_000_000),
            "decodes to 4.61e+06 pixels (240 frames of 160x120); the limit is 1e+06",
            "REELPIPE_MAX_DECODED_PIXELS",
        ),
    ],
)
def test_the_stage_refuses_a_clip_over_the_limit(
    bucket: Bucket,
    settings: Settings,
    fast_clip: Path,
    limits: Limits,
    figure: str,
    variable: str,
) -> None:
    """The stage's own fetch refuses too (a stage run on its own, on Modal)."""
    low = settings.replace(limits=limits)
    with pytest.raises(LimitExceeded) as refused:
        run_stage(bucket, low, StageName.FRAMING, {}, upload(bucket, fast_clip))
    assert figure in str(refused.value) and variable in str(refused.value)


def test_plan_refuses_it(
    fast_clip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reelpipe plan`` says why in one line, no estimate printed."""
    monkeypatch.setenv("REELPIPE_MAX_FPS", "100")
    assert main(["plan", str(fast_clip)]) != 0
    out, err = capsys.readouterr()
    assert "runs at 240 fps; the limit is 100 fps (REELPIPE_MAX_FPS)" in err
    assert "total:" not in out and "Traceback" not in err


def test_the_job_fails_before_its_first_stage(
    bucket: Bucket, settings: Settings, fast_clip: Path
) -> None:
    """The orchestrator's planning refuses the clip: ``limit_exceeded``, no stage ran."""
    low = settings.replace(limits=Limits(max_decoded_pixels=1_000_000))
    relative = upload_clip(bucket, "u", fast_clip)
    inbox = submit_manifest(bucket, "u", {"input_key": relative, "stages": {"framing": {}}})
    status = run_claimed(bucket, low, inbox.inbox_key)
    assert status.state is JobState.FAILED and status.error is not None
    assert status.error.kind is ErrorKind.LIMIT_EXCEEDED and status.error.stage is None
    assert "REELPIPE_MAX_DECODED_PIXELS" in status.error.message
    assert not status.stages or all(s.attempts == 0 for s in status.stages.values())

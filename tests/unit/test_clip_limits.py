"""One clip's cost is bounded: frame rate and decoded pixels, checked from the probe."""

from __future__ import annotations

from fractions import Fraction

import pytest

from pipeline.core.errors import LimitExceeded
from pipeline.core.settings import Limits, Settings
from pipeline.jobs.plan import plan_job
from pipeline.manifests.job import Stages
from pipeline.media.probe import VideoInfo
from pipeline.stages.base import check_limits


def info(
    *,
    width: int = 3840,
    height: int = 2160,
    fps: Fraction = Fraction(60),
    frames: int | None = None,
    seconds: float = 60.0,
    constant_rate: bool = True,
) -> VideoInfo:
    return VideoInfo(
        width=width,
        height=height,
        rotation=0,
        fps=fps,
        frame_count=round(seconds * fps) if frames is None else frames,
        duration_s=seconds,
        codec="h264",
        pix_fmt="yuv420p",
        has_audio=False,
        audio_codec=None,
        size_bytes=48 * 10**6,
        constant_rate=constant_rate,
    )


def test_the_issues_clip_is_refused_by_the_defaults() -> None:
    """48 MB of 4K at 1000 fps for 1190 s is in bounds by bytes, length and frame size,
    and refused for its work, naming the figure, the limit and the variable."""
    clip = info(fps=Fraction(1000), seconds=1190.0)
    with pytest.raises(LimitExceeded) as refused:
        check_limits(clip, Limits())
    message = str(refused.value)
    assert "9.87e+12 pixels" in message and "1190000 frames of 3840x2160" in message
    assert "5.97e+11" in message and "REELPIPE_MAX_DECODED_PIXELS" in message


@pytest.mark.parametrize(
    ("clip", "limits", "named"),
    [
        (info(fps=Fraction(1200), seconds=1.0), Limits(), "REELPIPE_MAX_FPS"),
        (info(fps=Fraction(240), seconds=1.0), Limits(max_fps=120), "REELPIPE_MAX_FPS"),
        (info(seconds=1200.0), Limits(), None),  # 20 minutes of 4K at 60 fps: the limit
        (info(seconds=1190.0, fps=Fraction(61)), Limits(), "REELPIPE_MAX_DECODED_PIXELS"),
        (info(width=1920, height=1080, seconds=1200.0, fps=Fraction(240)), Limits(), None),
        # A header that promises few frames: the clip's length at its rate counts.
        (
            info(frames=10, seconds=1190.0, fps=Fraction(61)),
            Limits(),
            "REELPIPE_MAX_DECODED_PIXELS",
        ),
        # The frame count counts where it is the larger (a variable-rate clip's average).
        (
            info(frames=1200 * 60 + 1, seconds=600.0, fps=Fraction(30), constant_rate=False),
            Limits(),
            "REELPIPE_MAX_DECODED_PIXELS",
        ),
    ],
)
def test_frame_rate_and_work_limits(clip: VideoInfo, limits: Limits, named: str | None) -> None:
    """Each limit refuses just past itself and says which variable sets it."""
    if named is None:
        check_limits(clip, limits)
        return
    with pytest.raises(LimitExceeded, match=named):
        check_limits(clip, limits)


def test_decoded_frames_take_the_larger_estimate() -> None:
    assert info(frames=10, seconds=2.0, fps=Fraction(30)).decoded_frames == 60
    assert info(frames=90, seconds=2.0, fps=Fraction(30)).decoded_frames == 90


def test_the_planner_refuses_before_estimating() -> None:
    """``plan_job`` (``reelpipe plan``, the orchestrator's planning) checks the limits."""
    stages = Stages.model_validate({"framing": {}})
    with pytest.raises(LimitExceeded, match="REELPIPE_MAX_DECODED_PIXELS"):
        plan_job(stages, info(fps=Fraction(1000), seconds=1190.0), Settings())


def test_the_limits_have_variables_long_and_short() -> None:
    env = {"REELPIPE_MAX_FPS": "240", "REELPIPE_LIMITS__MAX_DECODED_PIXELS": "1000"}
    limits = Settings.from_env(env).limits
    assert (limits.max_fps, limits.max_decoded_pixels) == (240, 1000)
    env = {"REELPIPE_MAX_DECODED_PIXELS": "5"}
    assert Settings.from_env(env).limits.max_decoded_pixels == 5

"""Framing plan: the timeline and filter graph computed from params and a probe."""

from __future__ import annotations

from fractions import Fraction

import pytest

from pipeline.core.errors import StageParamsInvalid
from pipeline.manifests.job import FramingParams
from pipeline.media.probe import VideoInfo
from pipeline.render.framing_plan import atempo_chain, filter_graph, plan_timeline


def info(**overrides: object) -> VideoInfo:
    """A probe result for a 10 s 1920x1080 30 fps clip with audio."""
    values: dict[str, object] = {
        "width": 1920,
        "height": 1080,
        "rotation": 0,
        "fps": Fraction(30),
        "frame_count": 300,
        "duration_s": 10.0,
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "has_audio": True,
        "audio_codec": "aac",
        "size_bytes": 1,
    }
    values.update(overrides)
    return VideoInfo(**values)  # type: ignore[arg-type]


def params(**doc: object) -> FramingParams:
    return FramingParams.model_validate(doc)


def test_no_params_keep_the_whole_clip() -> None:
    """An empty framing block keeps every frame at full size."""
    timeline = plan_timeline(params(), info())
    assert [(p.source_start_s, p.source_end_s, p.factor) for p in timeline.pieces] == [
        (0.0, 10.0, 1.0)
    ]
    assert (timeline.crop.width, timeline.crop.height) == (1920, 1080)
    assert timeline.output_frames == 300


def test_trim_and_slow_motion_make_pieces() -> None:
    """Trim 2-8 with 0.5x over 4-6 gives three pieces and 8 s of output."""
    timeline = plan_timeline(
        params(trim={"start_s": 2, "end_s": 8}, speed=[{"start_s": 4, "end_s": 6, "factor": 0.5}]),
        info(),
    )
    assert [(p.source_start_s, p.source_end_s, p.factor) for p in timeline.pieces] == [
        (2.0, 4.0, 1.0),
        (4.0, 6.0, 0.5),
        (6.0, 8.0, 1.0),
    ]
    assert timeline.output_duration_s == pytest.approx(8.0)
    assert timeline.output_frames == 240


@pytest.mark.parametrize(
    ("output_frame", "source_frame"),
    [(0, 60.0), (30, 90.0), (60, 120.0), (120, 150.0), (180, 180.0), (210, 210.0)],
)
def test_output_frames_map_back_to_source_frames(output_frame: int, source_frame: float) -> None:
    """Slow motion spreads 60 source frames over 120 output frames."""
    timeline = plan_timeline(
        params(trim={"start_s": 2, "end_s": 8}, speed=[{"start_s": 4, "end_s": 6, "factor": 0.5}]),
        info(),
    )
    assert timeline.source_frame(output_frame) == pytest.approx(source_frame)


def test_trim_end_past_the_clip_is_clamped() -> None:
    """Asking for more than there is keeps what there is."""
    timeline = plan_timeline(params(trim={"start_s": 8, "end_s": 30}), info())
    assert timeline.output_duration_s == pytest.approx(2.0)


def test_trim_start_past_the_clip_is_an_error() -> None:
    """A trim that starts after the end says how long the clip is."""
    with pytest.raises(StageParamsInvalid, match=r"only 10\.00 s long"):
        plan_timeline(params(trim={"start_s": 12, "end_s": 30}), info())


def test_crop_is_made_even() -> None:
    """Odd crop numbers are rounded down to even ones (yuv420p needs them)."""
    timeline = plan_timeline(params(crop={"x": 321, "y": 1, "width": 609, "height": 1079}), info())
    c = timeline.crop
    assert (c.x, c.y, c.width, c.height) == (320, 0, 608, 1078)


def test_crop_outside_the_frame_is_an_error() -> None:
    """The message names the crop and the clip's size."""
    with pytest.raises(StageParamsInvalid, match="1920x1080"):
        plan_timeline(params(crop={"x": 1500, "y": 0, "width": 608, "height": 1080}), info())


def test_crop_uses_upright_dimensions_for_rotated_clips() -> None:
    """A portrait phone clip stored landscape is cropped in its upright frame."""
    rotated = info(rotation=90)
    timeline = plan_timeline(
        params(crop={"x": 0, "y": 600, "width": 1080, "height": 1000}), rotated
    )
    assert (timeline.source_width, timeline.source_height) == (1080, 1920)


@pytest.mark.parametrize(
    ("factor", "chain"),
    [
        (1.0, "anull"),
        (0.5, "atempo=0.5"),
        (0.25, "atempo=0.5,atempo=0.5"),
        (4.0, "atempo=2,atempo=2"),
        (1.5, "atempo=1.5"),
    ],
)
def test_atempo_chains_stay_within_the_filter_range(factor: float, chain: str) -> None:
    """Each atempo step stays within 0.5-2.0."""
    assert atempo_chain(factor) == chain


def test_filter_graph_cuts_video_and_audio_into_the_same_pieces() -> None:
    """With a speed change, video and audio are cut at the same times; the slowed video
    piece blends its new frames by default, the others only change rate."""
    timeline = plan_timeline(
        params(trim={"start_s": 2, "end_s": 8}, speed=[{"start_s": 4, "end_s": 6, "factor": 0.5}]),
        info(),
    )
    graph = filter_graph(timeline, "30/1", has_audio=True)
    chains = graph.split(";")
    video = [c for c in chains if "[a" not in c and "[0:a]" not in c]
    assert video[1] == "[vs0]trim=start=0:end=2,setpts=(PTS-STARTPTS)/1,fps=30/1[vp0]"
    assert video[2] == "[vs1]trim=start=2:end=4,setpts=(PTS-STARTPTS)/0.5,framerate=fps=30/1[vp1]"
    assert video[-1].startswith("[vp0][vp1][vp2]concat=n=3:v=1:a=0")
    assert chains[-1].endswith("concat=n=3:v=0:a=1[a]")
    assert filter_graph(timeline, "30/1", has_audio=False) == ";".join(video)


@pytest.mark.parametrize(
    ("interpolate", "factor", "expected"),
    [
        (None, 0.5, "framerate=fps=30/1"),
        ("none", 0.5, "fps=30/1"),
        ("motion", 0.25, "tpad=stop_mode=clone:stop=4,minterpolate=fps=30/1:mi_mode=mci"),
        ("motion", 2.0, "fps=30/1"),  # a speed-up only drops frames
    ],
)
def test_a_slow_piece_gets_its_interpolation(
    interpolate: str | None, factor: float, expected: str
) -> None:
    segment: dict[str, object] = {"start_s": 4, "end_s": 6, "factor": factor}
    if interpolate is not None:
        segment["interpolate"] = interpolate
    timeline = plan_timeline(params(speed=[segment]), info())
    assert expected in filter_graph(timeline, "30/1", has_audio=False).split(";")[2]


def test_no_speed_change_keeps_one_chain() -> None:
    timeline = plan_timeline(params(trim={"start_s": 2, "end_s": 8}), info())
    graph = filter_graph(timeline, "30/1", has_audio=False)
    assert "split" not in graph and "concat" not in graph and "fps=30/1" in graph

"""The video encoder setting: NVENC only where it opens, x264 everywhere else, and the
output rules whichever writes the video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import ConfigError
from pipeline.core.settings import EncodeProfile, Settings
from pipeline.media import encoders
from pipeline.media.encoders import (
    NVENC,
    X264,
    encoder_args,
    encoder_options,
    nvenc_opens,
    resolve_encoder,
)
from pipeline.media.frames import FrameWriter, YuvFrame
from tests.media_checks import assert_playable_everywhere

pytestmark = pytest.mark.skipif(
    encoders.cuda_device_present(), reason="this machine has an NVIDIA device: bench/gpu.py"
)


@pytest.fixture(autouse=True)
def fresh_probe() -> None:
    """Each test probes NVENC afresh (the probe is cached per process)."""
    nvenc_opens.cache_clear()


def test_auto_falls_back_to_x264_without_a_gpu() -> None:
    assert resolve_encoder("auto") == X264
    assert resolve_encoder(Settings().video_encoder) == X264


def test_auto_falls_back_when_a_device_shows_but_nvenc_does_not_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device node without a working driver: the real NVENC open fails, x264 is used."""
    monkeypatch.setattr(encoders, "cuda_device_present", lambda: True)
    assert nvenc_opens() is False
    assert resolve_encoder("auto") == X264


def test_asking_for_nvenc_where_it_does_not_open_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="REELPIPE_VIDEO_ENCODER=h264_nvenc, but NVENC"):
        resolve_encoder("h264_nvenc")
    with pytest.raises(ValueError):
        resolve_encoder("h265_magic")


def test_an_x264_profile_maps_onto_nvenc_presets_and_quality() -> None:
    profile = EncodeProfile(preset="fast", crf=23)
    assert encoder_options(X264, profile) == {"preset": "fast", "crf": "23"}
    nvenc = encoder_options(NVENC, profile)
    assert (nvenc["preset"], nvenc["rc"], nvenc["cq"]) == ("p4", "vbr", "23")
    assert encoder_args(NVENC, EncodeProfile(preset="ultrafast", crf=12))[:4] == [
        "-c:v",
        "h264_nvenc",
        "-preset:v",
        "p1",
    ]


def test_the_writer_keeps_the_output_rules_with_the_chosen_encoder(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with FrameWriter(
        path, 64, 48, Fraction(30), EncodeProfile(), encoder=resolve_encoder("auto")
    ) as writer:
        for i in range(10):
            y = np.full((48, 64), 16 + 20 * i, np.uint8)
            uv = np.full((24, 32), 128, np.uint8)
            writer.write(YuvFrame.from_planes(i, y, uv, uv))
    facts = assert_playable_everywhere(path)
    assert (facts.video.width, facts.video.height, facts.video.frames) == (64, 48, 10)

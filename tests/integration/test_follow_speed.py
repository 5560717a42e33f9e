"""The follow-speed bench's scaled copies: a clip scaled by ffmpeg has exactly the size
its scaled ground truth claims (else every box would be off by the difference), and the
truth's boxes and click scale with it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from bench.follow_speed import scaled_clip, scaled_truth, scaled_width
from bench.follow_truth import DATA, load_truth
from pipeline.media.probe import probe
from tests.factories import make_clip


def test_a_scaled_clip_has_the_size_its_scaled_truth_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # 320x136 to 230 rows is 541.2 px wide: a width that rounds differently ways.
    clip, _ = make_clip(tmp_path, width=320, height=136, duration_s=0.5, audio=False)
    truth = load_truth(DATA / "bikes.json").model_copy(update={"width": 320, "height": 136})
    width = scaled_width(truth, 230)
    info = probe(scaled_clip(clip, width, 230, "generated"))
    assert (info.width, info.height) == (width, 230)
    assert scaled_truth(truth, 230).width == width


def test_a_scaled_truth_scales_its_boxes_and_click_with_its_size() -> None:
    truth = load_truth(DATA / "carphone.json")
    big = scaled_truth(truth, 1080)
    fx, fy = big.width / truth.width, big.height / truth.height
    assert big.height == 1080 and big.width % 2 == 0
    assert big.click.x == pytest.approx(truth.click.x * fx)
    assert big.click.y == pytest.approx(truth.click.y * fy)
    pairs = [(m, b) for m, b in zip(truth.marks, big.marks, strict=True) if m.box is not None]
    assert pairs
    for small, scaled in pairs:
        assert small.box is not None and scaled.box is not None
        assert scaled.box == pytest.approx(
            (small.box[0] * fx, small.box[1] * fy, small.box[2] * fx, small.box[3] * fy)
        )
        assert (scaled.frame, scaled.state) == (small.frame, small.state)
    assert type(big).model_validate(big.model_dump()) == big  # still a valid truth

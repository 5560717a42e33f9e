"""Moments found by themselves: the roar and the play are found, a moment never crosses a
cut, and each says why it was kept."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipeline.detect.moments import MomentOptions, find_moments, fit_within
from pipeline.media.probe import probe
from tests.factories import ffmpeg


@pytest.fixture(scope="module")
def game(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s: a still shot (0-6 s), a busy one (6-9 s), a still one (9-12 s); quiet crowd
    noise, roaring over 7-8 s."""
    path = tmp_path_factory.mktemp("moments") / "game.mp4"
    video = (
        "color=c=0x204060:s=320x180:r=30:d=6[a];testsrc2=s=320x180:r=30:d=3[b];"
        "color=c=0x806020:s=320x180:r=30:d=3[c];[a][b][c]concat=n=3:v=1:a=0,format=yuv420p[v];"
        "anoisesrc=a=0.6:d=12:c=pink,volume='if(between(t,7,8),1,0.03)':eval=frame[s]"
    )
    ffmpeg(
        "-filter_complex", video, "-map", "[v]", "-map", "[s]",
        "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-ac", "1", str(path),
    )  # fmt: skip
    return path


def test_the_roar_in_the_busy_shot_is_the_best_moment(game: Path) -> None:
    found = find_moments(game, probe(game), MomentOptions(moment_s=3.0, max_moments=4))
    best = found[0]
    assert best.start_s >= 6.0 - 1e-6 and best.end_s <= 9.0 + 1e-6, best
    assert best.start_s <= 7.5 <= best.end_s
    assert "loudness rise" in best.reasons
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)


def test_no_moment_crosses_a_cut_or_another(game: Path) -> None:
    found = find_moments(game, probe(game), MomentOptions(moment_s=4.0, max_moments=6))
    assert found
    for m in found:
        for cut in (6.0, 9.0):
            assert not (m.start_s < cut - 1e-6 and cut + 1e-6 < m.end_s), (m, cut)
    ordered = sorted(found, key=lambda m: m.start_s)
    for a, b in itertools.pairwise(ordered):
        assert a.end_s <= b.start_s + 1e-6


def test_the_best_moments_are_kept_within_the_reels_length(game: Path) -> None:
    found = find_moments(game, probe(game), MomentOptions(moment_s=2.0, max_moments=6))
    kept = fit_within(found, 4.0)
    assert sum(m.end_s - m.start_s for m in kept) <= 4.0 + 1e-6
    assert found[0] in kept
    assert [m.start_s for m in kept] == sorted(m.start_s for m in kept)

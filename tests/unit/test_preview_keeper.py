"""The keeper holds every frame the poster's choice can still pick, whatever the median
of the sharpness turns out to be, and the copies its preview needs, and little else."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

from pipeline.media.frames import YuvFrame
from pipeline.media.pass_previews import PASS_PREVIEWS
from pipeline.media.preview_keeper import PosterScore, PreviewKeeper, best_poster

FPS = 10.0  # a preview of 3 s is 30 frames


def _frame(index: int) -> YuvFrame:
    """A flat grey frame whose shade tells its index."""
    frame = av.VideoFrame(64, 36, "yuv420p")
    for plane, value in zip(frame.planes, (_luma(index), 128, 128), strict=True):
        plane.update(bytes([value]) * plane.buffer_size)
    return YuvFrame.wrap(index, frame)


def _luma(index: int) -> int:
    return 16 + (index * 2) % 220


def _shade(frame: av.VideoFrame) -> float:
    return float(frame.to_ndarray(format="gray").mean())


def _window(best: int) -> tuple[int, int]:
    return max(best - 15, 0), best + 15


def _feed(keeper: PreviewKeeper, scores: list[PosterScore | None]) -> list[PosterScore]:
    """Offer one frame per entry (None: not lit); the lit ones."""
    lit = []
    for index, shown in enumerate(scores):
        if shown is None:
            keeper.offer(_frame(index), base=0.0, sharpness=None)
        else:
            keeper.offer(_frame(index), base=shown.base, sharpness=shown.sharpness)
            lit.append(shown)
    return lit


def _sequence(rng: random.Random, length: int) -> list[PosterScore | None]:
    """Few distinct values, so ties in either measure are common."""
    return [
        None
        if rng.random() < 0.2
        else PosterScore(i, float(rng.choice([0, 1, 2, 3, 4])), float(rng.choice([1, 2, 4, 8])))
        for i in range(length)
    ]


def test_the_frame_the_choice_picks_is_always_held_whole() -> None:
    rng = random.Random(28)
    for _ in range(300):
        keeper = PreviewKeeper(FPS, _window, max_candidates=10_000)
        lit = _feed(keeper, _sequence(rng, rng.randint(1, 60)))
        best = best_poster(lit)
        assert best is None or best in keeper.candidates, (lit, keeper.candidates)
        assert not keeper.overflowed


def test_an_earlier_frame_as_large_is_kept_beside_a_sharper_later_one() -> None:
    # Both sharper than twice the median: they score the same and the earlier wins.
    scores = [PosterScore(i, 1.0, 1.0) for i in range(5)]
    scores += [PosterScore(5, 10.0, 5.0), PosterScore(6, 10.0, 6.0)]
    keeper = PreviewKeeper(FPS, _window)
    lit = _feed(keeper, list(scores))
    assert best_poster(lit) == 5
    assert keeper.candidates == [5, 6]


def test_a_sharper_smaller_frame_is_kept_beside_a_larger_blurred_one() -> None:
    # Against a high median the sharp one wins; against a low one the large one would.
    scores = [PosterScore(0, 8.0, 10.0), PosterScore(1, 10.0, 1.0)]
    scores += [PosterScore(i, 0.5, 10.0) for i in range(2, 7)]
    keeper = PreviewKeeper(FPS, _window)
    lit = _feed(keeper, list(scores))
    assert best_poster(lit) == 0
    assert 0 in keeper.candidates and 1 in keeper.candidates


def test_a_frame_beaten_whatever_the_median_is_let_go() -> None:
    scores = [PosterScore(0, 2.0, 3.0), PosterScore(1, 1.0, 3.0), PosterScore(2, 5.0, 3.0)]
    keeper = PreviewKeeper(FPS, _window)
    _feed(keeper, list(scores))
    assert keeper.candidates == [2]


def test_a_growing_player_keeps_the_front_and_the_copies_bounded() -> None:
    """Every frame larger than the last: each is a candidate when it comes; the cap holds
    the whole frames, and only the candidates' windows and the last preview length are
    kept small."""
    rng = random.Random(7)
    keeper = PreviewKeeper(FPS, _window, max_candidates=4)
    for index in range(400):
        keeper.offer(_frame(index), base=float(index + 1), sharpness=rng.uniform(1, 10))
        assert len(keeper.candidates) <= 4
        held = len(keeper._kept) + len(keeper._recent)
        assert held <= (4 + 1) * keeper.length


@pytest.mark.parametrize("best", [3, 40, 99])
def test_the_held_files_show_the_frame_and_window_asked(tmp_path: Path, best: int) -> None:
    scores: list[PosterScore | None] = [PosterScore(i, 1.0, 1.0) for i in range(100)]
    scores[best] = PosterScore(best, 50.0, 1.0)
    keeper = PreviewKeeper(FPS, _window)
    lit = _feed(keeper, scores)
    assert best_poster(lit) == best
    video = tmp_path / "out.mp4"
    window = _window(best)
    assert keeper.hold(video, 100, best, window)
    held = PASS_PREVIEWS.take(video, (best, window), 100)
    assert held is not None and held.cut.frame == best
    with av.open(str(held.poster)) as image:
        poster = _shade(next(image.decode(video=0)))
    assert abs(poster - _shade(_frame(best).av_frame)) < 1.5  # the frame itself
    with av.open(str(held.preview)) as preview:
        shades = [_shade(f) for f in preview.decode(video=0)]
    start, end = held.cut.start, held.cut.end
    assert (start, end) == (window[0], min(window[1], 100))
    expected = [_shade(_frame(i).av_frame) for i in range(start, end)]
    assert all(abs(a - b) < 1.5 for a, b in zip(shades, expected, strict=True)), shades


def test_nothing_is_held_when_the_frame_asked_was_not_kept(tmp_path: Path) -> None:
    keeper = PreviewKeeper(FPS, _window)
    _feed(keeper, [PosterScore(i, float(i + 1), 1.0) for i in range(50)])
    assert not keeper.hold(tmp_path / "out.mp4", 50, 10, _window(10))
    assert PASS_PREVIEWS.take(tmp_path / "out.mp4", (10, _window(10)), 50) is None

"""A split stage's details, joined: per-second words in order, the lit share weighted by
each part's frames, and the poster from a part where the player was lit."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.jobs.segments import _joined_details


@pytest.mark.parametrize(
    ("parts", "frames", "expected"),
    [
        ([{}], [10], {}),
        (
            [{"coverage": ["found"], "lit": 1.0}, {"coverage": ["lost", "lost"], "lit": 0.0}],
            [30, 60],
            {"coverage": ["found", "lost", "lost"], "lit": 0.3333},
        ),
        (
            [
                {"coverage": ["lost"], "lit": 0.0},
                {"coverage": ["found"], "lit": 1.0, "best_frame": 40, "preview_window": [30, 50]},
            ],
            [30, 30],
            {
                "coverage": ["lost", "found"],
                "lit": 0.5,
                "best_frame": 40,
                "preview_window": [30, 50],
            },
        ),
    ],
)
def test_split_details_join(
    parts: list[dict[str, Any]], frames: list[int], expected: dict[str, Any]
) -> None:
    assert _joined_details(parts, frames) == expected
